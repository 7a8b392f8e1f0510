using System.IO.Pipelines;
using System.Net.Sockets;

namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// The portable transport: .NET's asynchronous socket (or the <see cref="System.Net.Security.SslStream"/> over it) behind
/// a pipe reader and writer, with the read loop and the write loop on the thread pool. Every OS runs it, and every TLS
/// connection.
/// </summary>
internal sealed class StreamTransport(Socket socket, Stream stream) : ConnectionTransport
{
    private readonly PipeReader _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
    private readonly PipeWriter _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;

    public override Task ReadLoop => _readLoop;

    public override Task WriteLoop => _writeLoop;

    public override void Start(GearmanConnection connection, PacketFramer framer)
    {
        _readLoop = Task.Run(() => ReadLoopAsync(connection, framer));
        _writeLoop = Task.Run(() => WriteLoopAsync(connection, new PipeBatchWriter(_output), _output));
    }

    public override void Shutdown() => ShutdownQuietly(socket);

    public override void Abort()
    {
        try
        {
            socket.Close(0);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public override ValueTask DisposeAsync() => stream.DisposeAsync();

    private async Task ReadLoopAsync(GearmanConnection connection, PacketFramer framer)
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(connection.Stopping).ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    framer.Consume(ref buffer);
                    if (result.IsCompleted)
                    {
                        error = connection.EndOfStream(midPacket: !buffer.IsEmpty);
                        break;
                    }
                }
                finally
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        catch (Exception ex)
        {
            error = connection.ReadError(ex);
        }

        await _input.CompleteAsync().ConfigureAwait(false);
        connection.ReadEnded(error);
    }
}
