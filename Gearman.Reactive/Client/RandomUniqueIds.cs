using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Gearman.Reactive.Client;

/// <summary>
/// The random UUIDs sent as unique IDs of jobs submitted without one (version 4 layout, as <see cref="Guid.NewGuid"/>).
/// </summary>
/// <remarks>
/// <see cref="Guid.NewGuid"/> asks the kernel for 16 random bytes on every call (a <c>read</c> of <c>/dev/urandom</c> or
/// a <c>getrandom</c> on Linux): a system call per submitted job. These come from a per-thread block of cryptographically
/// secure random bytes refilled every <see cref="PerBlock"/> IDs, so the IDs stay as unguessable as NewGuid's (another
/// client that guessed a unique ID could join the job and receive its results).
/// </remarks>
internal static class RandomUniqueIds
{
    private const int PerBlock = 128;

    [ThreadStatic]
    private static Guid[]? _block;

    [ThreadStatic]
    private static int _next;

    /// <summary>A fresh random version-4 UUID.</summary>
    public static Guid Next()
    {
        var block = _block;
        if (block is null || _next == PerBlock)
        {
            block = _block ??= new Guid[PerBlock];
            RandomNumberGenerator.Fill(MemoryMarshal.AsBytes(block.AsSpan()));
            _next = 0;
        }

        Span<byte> bytes = stackalloc byte[16];
        block[_next++].TryWriteBytes(bytes, bigEndian: true, out _);

        // RFC 9562 version 4, variant 10xx: what Guid.NewGuid produces.
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }
}
