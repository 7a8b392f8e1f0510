using System.Buffers;

namespace Gearman.Server.Scheduling;

/// <summary>
/// The pool behind every request body the server copies (the framer rents, the scheduler or a job returns). The one
/// place buffers go back, so that a use after return can be made visible: with <see cref="PoisonReturned"/> on,
/// a returned buffer is overwritten, and whatever still reads it sees <see cref="Poison"/> bytes instead of the
/// plausible leftovers of another packet.
/// </summary>
internal static class RequestBuffers
{
    /// <summary>The byte a returned buffer is filled with while <see cref="PoisonReturned"/> is on.</summary>
    public const byte Poison = 0xDE;

    private static volatile bool _poisonReturned;

    /// <summary>Fill returned buffers with <see cref="Poison"/> (tests turn it on; a switch rather than DEBUG, as tests run in Release).</summary>
    internal static bool PoisonReturned
    {
        get => _poisonReturned;
        set => _poisonReturned = value;
    }

    /// <summary>A buffer of at least <paramref name="length"/> bytes (the empty array for 0).</summary>
    public static byte[] Rent(int length) => length == 0 ? [] : ArrayPool<byte>.Shared.Rent(length);

    /// <summary>Gives <paramref name="buffer"/> back; nothing may read or write it afterwards.</summary>
    public static void Return(byte[] buffer)
    {
        if (buffer.Length == 0) return;
        if (PoisonReturned) buffer.AsSpan().Fill(Poison);
        ArrayPool<byte>.Shared.Return(buffer);
    }
}
