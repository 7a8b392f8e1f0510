using System.IO.Pipelines;

namespace Gearman.Server.Security;

/// <summary>
/// A Kestrel connection's pipes as the one <see cref="Stream"/> an <see cref="System.Net.Security.SslStream"/> needs.
/// Disposing it leaves the pipes alone: Kestrel completes them when the connection ends.
/// </summary>
internal sealed class DuplexPipeStream : NonSeekableStream
{
    private readonly Stream _input;
    private readonly Stream _output;

    public DuplexPipeStream(IDuplexPipe pipe)
    {
        _input = pipe.Input.AsStream(leaveOpen: true);
        _output = pipe.Output.AsStream(leaveOpen: true);
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override int Read(byte[] buffer, int offset, int count) => _input.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _input.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => _input.ReadAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => _output.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _output.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => _output.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Flush() => _output.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _output.FlushAsync(cancellationToken);
}
