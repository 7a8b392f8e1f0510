using System.Text;
using Gearman.Reactive.Protocol;

namespace Gearman.Tests.Infrastructure;

/// <summary>A packet as received by <see cref="RawGearmanConnection"/>: its body is a private copy.</summary>
internal sealed record RawPacket(uint Magic, uint Type, byte[] Body)
{
    /// <summary>True for <c>\0RES</c>.</summary>
    public bool IsResponse => Magic == (uint)PacketMagic.Response;

    /// <summary>The body as text (UTF-8), NULs included.</summary>
    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>The type name for messages.</summary>
    public string TypeName => Enum.IsDefined(typeof(PacketType), Type) ? ((PacketType)Type).ToString() : Type.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The body split by the layout of its type (the last field is the rest of the body).</summary>
    public IReadOnlyList<byte[]> Fields()
    {
        int count = PacketLayout.Of((PacketType)Type).Fields;
        if (count == 0) return [];
        if (!PacketFields.TrySplit(count, Body.AsSpan(), out var fields))
        {
            throw new InvalidDataException($"{TypeName} body has fewer than {count} fields: {Printable(Body)}");
        }

        var result = new byte[fields.Count][];
        for (int i = 0; i < fields.Count; i++) result[i] = fields.Slice(Body, i).ToArray();
        return result;
    }

    /// <summary><see cref="Fields"/> as UTF-8 strings.</summary>
    public IReadOnlyList<string> Strings() => [.. Fields().Select(f => Encoding.UTF8.GetString(f))];

    /// <summary>The body split at every NUL (ignoring the type's layout).</summary>
    public IReadOnlyList<string> SplitAtNul() => BodyText.Split('\0');

    public override string ToString() => $"{(IsResponse ? "RES" : Magic == (uint)PacketMagic.Request ? "REQ" : $"0x{Magic:x8}")} {TypeName} \"{Printable(Body)}\"";

    /// <summary>Bytes with NULs as <c>\0</c> and other control bytes hex-escaped.</summary>
    public static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
        {
            if (b == 0) sb.Append("\\0");
            else if (b is < 0x20 or >= 0x7f) sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{b:x2}");
            else sb.Append((char)b);
        }

        return sb.ToString();
    }
}
