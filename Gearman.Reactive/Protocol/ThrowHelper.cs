using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Gearman.Reactive.Protocol;

/// <summary>Throws out of line so that hot codec methods stay small (NATS pattern).</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowFieldIndex(int index, int count)
        => throw new ArgumentOutOfRangeException(nameof(index), index, $"The packet has {count} fields.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowPacketTooLarge(long size, long max)
        => throw new GearmanProtocolException($"A packet of {size} bytes exceeds the maximum packet size of {max} bytes.");
}
