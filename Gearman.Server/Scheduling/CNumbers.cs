namespace Gearman.Server.Scheduling;

/// <summary>
/// Numbers on the wire read the way gearmand's C code reads them (strtoll, atoi): optional white space and sign, then
/// the leading digits; whatever follows is ignored, and text without digits is 0.
/// </summary>
internal static class CNumbers
{
    /// <summary>strtoll; false when the digits overflow a <see cref="long"/> (gearmand treats that as an error).</summary>
    public static bool TryParseLong(ReadOnlySpan<byte> text, out long value)
    {
        bool ok = Parse(text, out value, out _);
        if (!ok) value = 0;
        return ok;
    }

    /// <summary>atoi, clamped to <see cref="int"/> (C leaves overflow undefined).</summary>
    public static int Atoi(ReadOnlySpan<byte> text)
    {
        if (!Parse(text, out long value, out bool negative)) value = negative ? long.MinValue : long.MaxValue;
        return (int)Math.Clamp(value, int.MinValue, int.MaxValue);
    }

    private static bool Parse(ReadOnlySpan<byte> text, out long value, out bool negative)
    {
        value = 0;
        int i = 0;
        while (i < text.Length && text[i] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\v' or (byte)'\f') i++;
        negative = false;
        if (i < text.Length && text[i] is (byte)'+' or (byte)'-')
        {
            negative = text[i] == (byte)'-';
            i++;
        }

        // Accumulated as a magnitude up to 2^63, so that long.MinValue parses as strtoll parses it.
        ulong limit = negative ? 1UL << 63 : long.MaxValue;
        ulong result = 0;
        for (; i < text.Length && text[i] is >= (byte)'0' and <= (byte)'9'; i++)
        {
            uint digit = (uint)(text[i] - '0');
            if (result > (limit - digit) / 10) return false;
            result = (result * 10) + digit;
        }

        value = negative ? (long)(0UL - result) : (long)result;
        return true;
    }
}
