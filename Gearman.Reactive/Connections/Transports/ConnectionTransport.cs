using System.IO.Pipelines;
using System.Net.Sockets;

namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// How a <see cref="GearmanConnection"/> moves bytes: a read loop that feeds a <see cref="PacketFramer"/> and a write
/// loop that drains the connection's <see cref="PacketOutbox"/>. <see cref="StreamTransport"/> runs both on the thread
/// pool over a <see cref="Stream"/> (any OS, and TLS); <see cref="SocketThreadTransport"/> (Linux, plaintext) reads on
/// a thread of its own with blocking calls and writes on the sending thread.
/// </summary>
internal abstract class ConnectionTransport
{
    /// <summary>Completes when the read loop has ended (it reports how through <see cref="GearmanConnection.ReadEnded"/>).</summary>
    public abstract Task ReadLoop { get; }

    /// <summary>Completes when the write loop has ended.</summary>
    public abstract Task WriteLoop { get; }

    /// <summary>Starts both loops.</summary>
    public abstract void Start(GearmanConnection connection, PacketFramer framer);

    /// <summary>Ends both directions of the socket, which wakes a read that waits for data.</summary>
    public abstract void Shutdown();

    /// <summary>Closes the socket at once (after an error).</summary>
    public abstract void Abort();

    /// <summary>Releases the socket and buffers, once both loops have ended.</summary>
    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// Drains the connection's outbox into <paramref name="output"/> until it completes, then completes
    /// <paramref name="pipe"/> if there is one; a failure closes the connection.
    /// </summary>
    protected static async Task WriteLoopAsync(GearmanConnection connection, IBatchWriter output, PipeWriter? pipe = null)
    {
        try
        {
            await connection.Outbox.RunAsync(output, connection.Stopping).ConfigureAwait(false);
            if (pipe is not null) await pipe.CompleteAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (connection.Stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            connection.WriteFailed(ex);
        }
    }

    /// <summary>Ends both directions of <paramref name="socket"/>, ignoring a socket that is already closed.</summary>
    protected static void ShutdownQuietly(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
