using System.Buffers;

namespace Gearman.Server.Security;

/// <summary>
/// The stream under a server <see cref="System.Net.Security.SslStream"/>: once <see cref="Coalesce"/> is set (after the
/// handshake, which must reach the peer as it is written), writes collect in a buffer and go out in one write at
/// <see cref="FlushAsync(CancellationToken)"/>, so a batch of replies costs one send however many TLS records it makes.
/// Reads pass through; a TLS stream reads and writes its inner stream concurrently, and the two sides share nothing here.
/// </summary>
internal sealed class CoalescingStream : NonSeekableStream
{
    private const int FlushThreshold = 64 * 1024;
    private readonly Stream _inner;
    private readonly ArrayBufferWriter<byte> _pending = new(FlushThreshold);

    public CoalescingStream(Stream inner) => _inner = inner;

    /// <summary>Whether writes wait for the next flush (false: they go straight through).</summary>
    public bool Coalesce { get; set; }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => _inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!Coalesce) return _inner.WriteAsync(buffer, cancellationToken);
        _pending.Write(buffer.Span);
        return _pending.WrittenCount >= FlushThreshold ? WritePendingAsync(cancellationToken) : ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        if (!Coalesce)
        {
            _inner.Write(buffer, offset, count);
            return;
        }

        _pending.Write(buffer.AsSpan(offset, count));
        if (_pending.WrittenCount >= FlushThreshold) WritePending();
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        await WritePendingAsync(cancellationToken).ConfigureAwait(false);
        await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Flush()
    {
        WritePending();
        _inner.Flush();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private void WritePending()
    {
        if (_pending.WrittenCount == 0) return;
        _inner.Write(_pending.WrittenSpan);
        _pending.ResetWrittenCount();
    }

    private async ValueTask WritePendingAsync(CancellationToken cancellationToken)
    {
        if (_pending.WrittenCount == 0) return;
        await _inner.WriteAsync(_pending.WrittenMemory, cancellationToken).ConfigureAwait(false);
        _pending.ResetWrittenCount();
    }
}
