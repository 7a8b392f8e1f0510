namespace Gearman.Server.Scheduling;

/// <summary>
/// The last few large bodies given back, kept for a body of exactly the same length. A fresh array is memory no cache
/// has seen, and the kernel's copy of a 64 KiB body into one cost it twice what the copy into a reused buffer costs
/// (docs/benchmarks.md, "Fresh arrays for large bodies"); the jobs of one function keep arriving with bodies of one
/// length, so the buffer a finished job gave back fits the next one. Bounded in bytes and in buffers, so what it keeps
/// after a burst is at most <see cref="CapacityBytes"/>; the oldest kept buffer makes room for a newer one.
/// </summary>
internal sealed class RecycledBodies(int capacityBytes, int maxLength, int slots)
{
    /// <summary>The bodies <see cref="RequestBuffers"/> gives back: 1 MiB (one L2 cache) of buffers up to 256 KiB.</summary>
    public static readonly RecycledBodies Shared = new(1024 * 1024, 256 * 1024, 16);

    private readonly Lock _gate = new();
    private readonly byte[]?[] _kept = new byte[]?[slots]; // oldest first
    private int _count;
    private int _bytes;

    /// <summary>The most bytes kept at once.</summary>
    public int CapacityBytes => capacityBytes;

    /// <summary>The longest buffer kept: copies of longer ones take long enough that a cold buffer adds little.</summary>
    public int MaxLength => maxLength;

    /// <summary>Bytes kept now.</summary>
    public int Bytes
    {
        get
        {
            lock (_gate) return _bytes;
        }
    }

    /// <summary>The most recently kept buffer of exactly <paramref name="length"/> bytes, or null.</summary>
    public byte[]? Take(int length)
    {
        if (length > maxLength) return null;
        lock (_gate)
        {
            for (int i = _count - 1; i >= 0; i--)
            {
                var buffer = _kept[i]!;
                if (buffer.Length != length) continue;
                Array.Copy(_kept, i + 1, _kept, i, _count - i - 1);
                _kept[--_count] = null;
                _bytes -= length;
                return buffer;
            }
        }

        return null;
    }

    /// <summary>Keeps <paramref name="buffer"/>, dropping the oldest kept ones to make room; false when it is longer than <see cref="MaxLength"/>.</summary>
    public bool Keep(byte[] buffer)
    {
        if (buffer.Length > maxLength || buffer.Length > capacityBytes) return false;
        lock (_gate)
        {
            int drop = 0;
            int bytes = _bytes + buffer.Length;
            while (bytes > capacityBytes || _count - drop == _kept.Length) bytes -= _kept[drop++]!.Length;
            if (drop > 0)
            {
                Array.Copy(_kept, drop, _kept, 0, _count - drop);
                Array.Clear(_kept, _count - drop, drop);
                _count -= drop;
            }

            _kept[_count++] = buffer;
            _bytes = bytes;
        }

        return true;
    }

    /// <summary>Lets the GC have every kept buffer (a drained burst's reclaim).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            Array.Clear(_kept);
            _count = 0;
            _bytes = 0;
        }
    }
}
