using System.Net.Sockets;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;

namespace Gearman.Tests.Integration.Worker;

/// <summary>
/// A job server played by the test, packet by packet, on <c>127.0.0.1:0</c>: it accepts connections, shows what the
/// worker sends, and sends what the test tells it to. For exact wire-order assertions that a real server cannot give.
/// </summary>
internal sealed class ScriptedJobServer() : ScriptedListener<ScriptedConnection>(0, socket => new ScriptedConnection(socket), WorkerTestKit.WaitLimit)
{
    /// <summary>
    /// Options for a worker of this server: quick reconnects, and a short stop (the scripted server never answers the
    /// grab that is outstanding when a test ends).
    /// </summary>
    public GearmanWorkerOptions WorkerOptions() => GearmanWorkerOptions.Default with
    {
        Servers = [Address],
        ReconnectDelay = TimeSpan.FromMilliseconds(20),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(100),
        ShutdownTimeout = TimeSpan.FromSeconds(1),
        LoggerFactory = TestLogging.Factory,
    };
}

/// <summary>One accepted worker connection.</summary>
internal sealed class ScriptedConnection(Socket socket) : ScriptedPeerConnection(socket, 1u << 20, WorkerTestKit.WaitLimit, "worker")
{
    /// <summary>Reads the next packet and checks its type; returns its fields as strings.</summary>
    public async Task<IReadOnlyList<string>> ExpectAsync(PacketType type, TimeSpan? timeout = null)
    {
        var p = await ReadAsync(timeout);
        if (p.Type != (uint)type) throw new InvalidDataException($"Expected {type}, got {p}");
        return p.Strings();
    }

    /// <summary>True when the worker closes the connection (after sending nothing more) within the timeout.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        try
        {
            var p = await ReadAsync(timeout);
            throw new InvalidDataException($"Expected the worker to close, got {p}");
        }
        catch (EndOfStreamException)
        {
            return true;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Drops the connection (RST), as a crashing server would.</summary>
    public override void Abort()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    protected override async ValueTask OnDisposeAsync() => await Reader.CompleteAsync();
}
