using System.Buffers;
using System.Security.Cryptography;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Connections;

/// <summary>
/// One <c>ECHO_REQ</c> round trip on a connection of its own (as <c>gearman --ping</c>): connectivity of the server, not
/// of the pooled connections, so a probe never delays or disturbs jobs.
/// </summary>
internal sealed class EchoProbe : IPacketHandler
{
    private readonly TaskCompletionSource _echoed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _token = RandomNumberGenerator.GetBytes(16);

    /// <summary>Pings every server of <paramref name="options"/> at once; never throws for a server that fails.</summary>
    public static async ValueTask<IReadOnlyList<GearmanPingResult>> PingAllAsync(IGearmanConnectionOptions options, CancellationToken cancellationToken)
    {
        // One bound for connect and echo together; an infinite connect timeout must not make a ping hang.
        var timeout = options.ConnectTimeout == Timeout.InfiniteTimeSpan ? TimeSpan.FromSeconds(5) : options.ConnectTimeout;
        var pings = new Task<GearmanPingResult>[options.Servers.Count];
        for (int i = 0; i < pings.Length; i++) pings[i] = PingAsync(options.Servers[i], timeout, options.TimeProvider, options.Tls, options.ServerTls, cancellationToken);
        return await Task.WhenAll(pings).ConfigureAwait(false);
    }

    /// <summary>Connects, echoes a random token and checks it comes back, all within <paramref name="timeout"/>.</summary>
    public static async Task<GearmanPingResult> PingAsync(
        string server, TimeSpan timeout, TimeProvider time, GearmanTlsOptions? tls, IReadOnlyDictionary<string, GearmanTlsOptions?>? serverTls, CancellationToken cancellationToken)
    {
        long start = time.GetTimestamp();
        var probe = new EchoProbe();
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        GearmanConnection? connection = null;
        try
        {
            var endpoint = ServerEndpoint.Parse(server);
            connection = await GearmanConnection.ConnectAsync(endpoint, probe, timeout, 1024, linked.Token, TlsConnector.Select(endpoint, tls, serverTls)).ConfigureAwait(false);
            if (!connection.Outbox.Send(PacketType.EchoReq, probe._token)) throw new GearmanConnectionException($"The connection to job server {server} closed.");
            await probe._echoed.Task.WaitAsync(linked.Token).ConfigureAwait(false);
            return new GearmanPingResult(server, time.GetElapsedTime(start), null);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new GearmanPingResult(server, TimeSpan.Zero, new TimeoutException($"Job server {server} did not echo within {timeout.TotalMilliseconds:0} ms."));
        }
        catch (Exception ex) when (ex is GearmanException or FormatException)
        {
            return new GearmanPingResult(server, TimeSpan.Zero, ex);
        }
        finally
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void OnPacket(GearmanConnection connection, in Packet packet)
    {
        switch (packet.Type)
        {
            case PacketType.EchoRes when packet.Body.Length == _token.Length && SequenceEquals(packet, _token):
                _echoed.TrySetResult();
                break;
            case PacketType.EchoRes:
                _echoed.TrySetException(new GearmanProtocolException($"Job server {connection.Endpoint} echoed different bytes."));
                break;
            case PacketType.Error:
                _echoed.TrySetException(new GearmanProtocolException($"Job server {connection.Endpoint} answered ECHO_REQ with ERROR."));
                break;
            default:
                _echoed.TrySetException(new GearmanProtocolException($"Job server {connection.Endpoint} answered ECHO_REQ with {packet.Type}."));
                break;
        }
    }

    public void OnClosed(GearmanConnection connection, Exception? error)
        => _echoed.TrySetException(error ?? new GearmanConnectionException($"Job server {connection.Endpoint} closed the connection before echoing."));

    private static bool SequenceEquals(in Packet packet, byte[] expected)
    {
        Span<byte> copy = stackalloc byte[expected.Length];
        packet.Body.CopyTo(copy);
        return copy.SequenceEqual(expected);
    }
}
