using System.Buffers;

namespace Gearman.Server.Scheduling;

/// <summary>
/// The buffers behind every request body the server copies (the framer rents, the scheduler or a job returns). Bodies
/// up to <see cref="MaxPooledLength"/> come from <see cref="ArrayPool{T}.Shared"/>; larger ones are exactly sized arrays
/// that go back to the GC, because the pool rounds a length up to a power of two (a 64 KiB + 12 B job cost 128 KiB)
/// and keeps only a few arrays per size, so a burst of large jobs bought fresh arrays anyway and left them for a GC
/// that never came once the burst had drained (docs/benchmarks/memory-causes.md). The last few given back are kept
/// for a body of the same length (<see cref="RecycledBodies"/>), as a fresh array costs the kernel's copy into it
/// twice. The bytes of large bodies still held are counted in <see cref="HeldMemory"/>, which returns a drained
/// burst's memory to the OS.
/// Returned buffers can be poisoned (<see cref="PoisonReturned"/>) so that a use after return becomes visible.
/// </summary>
internal static class RequestBuffers
{
    /// <summary>The byte a returned buffer is filled with while <see cref="PoisonReturned"/> is on.</summary>
    public const byte Poison = 0xDE;

    /// <summary>The largest body taken from the pool (a power of two, so a pooled array is never longer).</summary>
    public const int MaxPooledLength = 2048;

    private static volatile bool _poisonReturned;

    /// <summary>Fill returned buffers with <see cref="Poison"/> (tests turn it on; a switch rather than DEBUG, as tests run in Release).</summary>
    internal static bool PoisonReturned
    {
        get => _poisonReturned;
        set => _poisonReturned = value;
    }

    /// <summary>A buffer of at least <paramref name="length"/> bytes, exactly <paramref name="length"/> above <see cref="MaxPooledLength"/> (the empty array for 0); its contents are undefined.</summary>
    public static byte[] Rent(int length)
    {
        if (length == 0) return [];
        if (length <= MaxPooledLength) return ArrayPool<byte>.Shared.Rent(length);

        HeldMemory.Add(length);
        return RecycledBodies.Shared.Take(length) ?? GC.AllocateUninitializedArray<byte>(length);
    }

    /// <summary>Gives <paramref name="buffer"/> back; nothing may read or write it afterwards.</summary>
    public static void Return(byte[] buffer)
    {
        if (buffer.Length == 0) return;
        if (PoisonReturned) buffer.AsSpan().Fill(Poison);
        if (buffer.Length <= MaxPooledLength)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }

        HeldMemory.Remove(buffer.Length);
        RecycledBodies.Shared.Keep(buffer);
    }
}
