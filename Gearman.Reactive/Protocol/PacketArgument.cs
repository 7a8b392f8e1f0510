using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Gearman.Reactive.Protocol;

/// <summary>
/// Checks a string that is sent as a NUL-terminated packet field (function, unique ID, reducer, client ID, handle):
/// a NUL inside it would end the field early and shift the rest of the packet into the next fields.
/// </summary>
internal static class PacketArgument
{
    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="paramName"/> when <paramref name="value"/> contains NUL.</summary>
    /// <param name="value">The field's text.</param>
    /// <param name="paramName">The argument it came from.</param>
    /// <param name="what">What the field is, for the message ("A function name").</param>
    public static void ThrowIfContainsNul(string value, string paramName, string what)
    {
        if (value.Contains('\0', StringComparison.Ordinal)) ThrowContainsNul(paramName, what);
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowContainsNul(string paramName, string what)
        => throw new ArgumentException($"{what} cannot contain a NUL character: NUL separates the fields of a Gearman packet.", paramName);
}
