using System.Buffers;
using System.Buffers.Binary;

namespace Gearman.Reactive.Protocol;

/// <summary>
/// Writes binary packets into an <see cref="IBufferWriter{T}"/>: the exact length is computed first, the header and
/// NUL-separated fields go into one span, and a trailing data part is copied with <c>Write</c>. No NUL follows the
/// last field (protocol.md §1.1, sender rule).
/// </summary>
internal static class PacketWriter
{
    /// <summary>Writes a packet with no body.</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type)
    {
        var span = output.GetSpan(PacketReader.HeaderLength);
        WriteHeader(span, magic, type, 0);
        output.Advance(PacketReader.HeaderLength);
    }

    /// <summary>Writes a packet whose body is one field.</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, ReadOnlySpan<byte> last)
    {
        var span = output.GetSpan(PacketReader.HeaderLength);
        WriteHeader(span, magic, type, Checked(last.Length));
        output.Advance(PacketReader.HeaderLength);
        output.Write(last);
    }

    /// <summary>Writes a packet of two fields.</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> last)
    {
        int head = PacketReader.HeaderLength + f0.Length + 1;
        var span = output.GetSpan(head);
        WriteHeader(span, magic, type, Checked((long)f0.Length + 1 + last.Length));
        int at = PacketReader.HeaderLength;
        at = Field(span, at, f0);
        output.Advance(at);
        output.Write(last);
    }

    /// <summary>Writes a packet of three fields.</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> last)
    {
        int head = PacketReader.HeaderLength + f0.Length + f1.Length + 2;
        var span = output.GetSpan(head);
        WriteHeader(span, magic, type, Checked((long)head - PacketReader.HeaderLength + last.Length));
        int at = PacketReader.HeaderLength;
        at = Field(span, at, f0);
        at = Field(span, at, f1);
        output.Advance(at);
        output.Write(last);
    }

    /// <summary>Writes a packet of four fields.</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> last)
    {
        int head = PacketReader.HeaderLength + f0.Length + f1.Length + f2.Length + 3;
        var span = output.GetSpan(head);
        WriteHeader(span, magic, type, Checked((long)head - PacketReader.HeaderLength + last.Length));
        int at = PacketReader.HeaderLength;
        at = Field(span, at, f0);
        at = Field(span, at, f1);
        at = Field(span, at, f2);
        output.Advance(at);
        output.Write(last);
    }

    /// <summary>Writes a packet of five fields.</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> f3, ReadOnlySpan<byte> last)
    {
        int head = PacketReader.HeaderLength + f0.Length + f1.Length + f2.Length + f3.Length + 4;
        var span = output.GetSpan(head);
        WriteHeader(span, magic, type, Checked((long)head - PacketReader.HeaderLength + last.Length));
        int at = PacketReader.HeaderLength;
        at = Field(span, at, f0);
        at = Field(span, at, f1);
        at = Field(span, at, f2);
        at = Field(span, at, f3);
        output.Advance(at);
        output.Write(last);
    }

    /// <summary>Writes a packet of six fields.</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> f3, ReadOnlySpan<byte> f4, ReadOnlySpan<byte> last)
    {
        int head = PacketReader.HeaderLength + f0.Length + f1.Length + f2.Length + f3.Length + f4.Length + 5;
        var span = output.GetSpan(head);
        WriteHeader(span, magic, type, Checked((long)head - PacketReader.HeaderLength + last.Length));
        int at = PacketReader.HeaderLength;
        at = Field(span, at, f0);
        at = Field(span, at, f1);
        at = Field(span, at, f2);
        at = Field(span, at, f3);
        at = Field(span, at, f4);
        output.Advance(at);
        output.Write(last);
    }

    /// <summary>Writes a packet of two fields whose data part is a sequence (for example a borrowed payload being forwarded).</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, ReadOnlySpan<byte> f0, in ReadOnlySequence<byte> data)
    {
        int head = PacketReader.HeaderLength + f0.Length + 1;
        var span = output.GetSpan(head);
        WriteHeader(span, magic, type, Checked(f0.Length + 1 + data.Length));
        int at = Field(span, PacketReader.HeaderLength, f0);
        output.Advance(at);
        foreach (var segment in data) output.Write(segment.Span);
    }

    /// <summary>Writes the 12-byte header into <paramref name="destination"/>.</summary>
    public static void WriteHeader(Span<byte> destination, PacketMagic magic, PacketType type, uint bodyLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)magic);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], bodyLength);
    }

    private static int Field(Span<byte> span, int at, ReadOnlySpan<byte> field)
    {
        field.CopyTo(span[at..]);
        at += field.Length;
        span[at] = 0;
        return at + 1;
    }

    private static uint Checked(long bodyLength)
    {
        if (bodyLength > uint.MaxValue) ThrowHelper.ThrowPacketTooLarge(bodyLength, uint.MaxValue);
        return (uint)bodyLength;
    }
}
