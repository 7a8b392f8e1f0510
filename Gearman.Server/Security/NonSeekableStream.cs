namespace Gearman.Server.Security;

/// <summary>The parts every stream adapter of this folder shares: none of them has a length or a position.</summary>
internal abstract class NonSeekableStream : Stream
{
    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
