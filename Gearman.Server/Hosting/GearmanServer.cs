using System.Net;

namespace Gearman.Server.Hosting;

/// <summary>
/// A running job server. Tests and the command line both start it through <see cref="StartAsync"/>.
/// </summary>
internal sealed class GearmanServer : IAsyncDisposable
{
    private GearmanServer(IPEndPoint endPoint)
    {
        EndPoint = endPoint;
    }

    /// <summary>Where the server listens (the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Starts a server and returns once it accepts connections.</summary>
    public static Task<GearmanServer> StartAsync(GearmanServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Placeholder until the scheduler and networking land (issue 2).
        throw new NotImplementedException("The job server is being built (issue 2).");
    }

    /// <summary>Stops accepting, lets writes drain, and stops.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
