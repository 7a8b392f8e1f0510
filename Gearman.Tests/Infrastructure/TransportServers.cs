using Gearman.Server.Hosting;
using Microsoft.Extensions.Logging;

namespace Gearman.Tests.Infrastructure;

/// <summary>Our server in-process on 127.0.0.1:0 with a named transport, for tests that compare epoll and Kestrel.</summary>
internal static class TransportServers
{
    /// <summary>The transports, for <c>[MemberData]</c>.</summary>
    public static Xunit.TheoryData<string> Names => ["epoll", "kestrel"];

    /// <summary>gearmand and both transports of ours, for <c>[MemberData]</c> of wire tests that compare them.</summary>
    public static Xunit.TheoryData<string> NamesAndGearmand => ["gearmand", "epoll", "kestrel"];

    /// <summary>Starts gearmand (<c>gearmand</c>) or our server on a transport (<c>epoll</c>, <c>kestrel</c>); the result has the port.</summary>
    public static async Task<NamedServer> StartNamedAsync(string name)
    {
        if (name == "gearmand")
        {
            var gearmand = await TestServers.StartAsync(ServerKind.Gearmand, ct: Xunit.TestContext.Current.CancellationToken);
            return new NamedServer(gearmand.Port, gearmand);
        }

        var ours = await StartAsync(name);
        return new NamedServer(ours.EndPoint.Port, ours);
    }

    /// <summary>Starts a memory-queue server on <paramref name="transport"/> (<c>epoll</c> or <c>kestrel</c>), optionally with changed options and captured logs.</summary>
    public static async Task<GearmanServer> StartAsync(string transport, Func<GearmanServerOptions, GearmanServerOptions>? configure = null, LogCapture? logs = null)
    {
        var kind = transport == "epoll" ? ServerTransport.Epoll : ServerTransport.Kestrel;
        var options = new GearmanServerOptions
        {
            Port = 0,
            ListenAddress = "127.0.0.1",
            QueueType = Gearman.Server.Persistence.QueueType.Memory,
            Transport = kind,
        };
        var server = await GearmanServer.StartAsync(
            configure?.Invoke(options) ?? options,
            Xunit.TestContext.Current.CancellationToken,
            logs is null ? null : logging => logging.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        Xunit.Assert.Equal(kind, server.Transport);
        return server;
    }
}

/// <summary>A server started by <see cref="TransportServers.StartNamedAsync"/>: its port, and disposal that stops it.</summary>
internal sealed record NamedServer(int Port, IAsyncDisposable Server) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
