using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Gearman.Server.Networking;

/// <summary>
/// Kestrel's memory pool for the connections' pipes, with larger blocks than Kestrel's own 4 KiB ones. Kestrel receives
/// into one pipe segment at a time, so the block size caps each receive call: a 64 KiB job body took 16 recv calls with
/// 4 KiB blocks. Blocks are pinned (the socket layer hands them to the kernel), reused without limit and never freed,
/// like Kestrel's pool; an idle connection holds one.
/// </summary>
internal sealed class ReceiveBlockPool : MemoryPool<byte>, IMemoryPoolFactory<byte>
{
    /// <summary>Bytes per block, so at most per receive call.</summary>
    public const int BlockSize = 32 * 1024;

    private readonly ConcurrentQueue<Block> _free = new();

    /// <inheritdoc />
    public override int MaxBufferSize => BlockSize;

    /// <summary>Kestrel asks the factory for a pool per listener; they all share this one.</summary>
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => this;

    /// <inheritdoc />
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        return _free.TryDequeue(out var block) ? block : new Block(this);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // Kestrel disposes the pool at shutdown; blocks still rented are returned later and simply kept.
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly ReceiveBlockPool _pool;

        public Block(ReceiveBlockPool pool)
        {
            _pool = pool;
            Memory = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        }

        public Memory<byte> Memory { get; }

        public void Dispose() => _pool._free.Enqueue(this);
    }
}
