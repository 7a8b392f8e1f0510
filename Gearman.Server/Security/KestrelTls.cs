using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Security;

/// <summary>
/// TLS on a Kestrel listener: a connection middleware that runs <see cref="TlsHandshake"/> over the connection's pipes,
/// then hands the connection handler pipes over the TLS stream and the verified identity (<see cref="PeerIdentityFeature"/>).
/// </summary>
internal static class KestrelTls
{
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(ServerCertificates certificates, ILogger logger, CancellationToken stopping)
        => next => connection => ServeAsync(next, connection, certificates, logger, stopping);

    private static async Task ServeAsync(ConnectionDelegate next, ConnectionContext connection, ServerCertificates certificates, ILogger logger, CancellationToken stopping)
    {
        string remote = (connection.RemoteEndPoint as IPEndPoint)?.ToString() ?? "unknown";
        var session = await TlsHandshake.AuthenticateAsync(new DuplexPipeStream(connection.Transport), certificates, remote, logger, stopping).ConfigureAwait(false);
        if (session is null) return; // logged; returning closes the connection

        var original = connection.Transport;
        await using (session.Stream.ConfigureAwait(false))
        {
            var pipes = TlsPipes.Create(session.Stream);
            connection.Transport = pipes;
            connection.Features.Set(new PeerIdentityFeature(session.Identity));
            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                connection.Transport = original;
                await TlsPipes.CompleteAsync(pipes).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>The pipes the connection handler reads and writes over a TLS stream.</summary>
internal static class TlsPipes
{
    public static IDuplexPipe Create(Stream tls) => new Pipes(
        PipeReader.Create(tls, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true)),
        PipeWriter.Create(new PacketRecordStream(tls), new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true)));

    /// <summary>Returns the pipes' buffers once the connection is done with them.</summary>
    public static async ValueTask CompleteAsync(IDuplexPipe pipes)
    {
        await pipes.Input.CompleteAsync().ConfigureAwait(false);
        await pipes.Output.CompleteAsync().ConfigureAwait(false);
    }

    private sealed record Pipes(PipeReader Input, PipeWriter Output) : IDuplexPipe;
}
