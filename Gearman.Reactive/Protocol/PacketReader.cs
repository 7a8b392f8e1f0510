using System.Buffers;
using System.Buffers.Binary;

namespace Gearman.Reactive.Protocol;

/// <summary>Outcome of <see cref="PacketReader.TryRead"/>.</summary>
internal enum PacketReadStatus
{
    /// <summary>More bytes are needed; nothing was consumed.</summary>
    Incomplete,

    /// <summary>A packet was framed and the buffer advanced past it.</summary>
    Packet,

    /// <summary>The magic is neither <c>\0REQ</c> nor <c>\0RES</c>: the stream cannot be trusted any more.</summary>
    InvalidMagic,

    /// <summary>The declared size exceeds the limit; refused before waiting for (or allocating) the body.</summary>
    TooLarge,
}

/// <summary>Frames binary packets from a byte sequence without copying the body.</summary>
internal static class PacketReader
{
    /// <summary>Header: magic, type and body size, each a big-endian u32.</summary>
    public const int HeaderLength = 12;

    /// <summary>Reads one packet from the start of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">Advanced past the packet when one is returned; otherwise unchanged.</param>
    /// <param name="maxBody">Largest body size accepted.</param>
    /// <param name="packet">The packet; its body is a slice of <paramref name="buffer"/>.</param>
    /// <param name="declaredSize">The declared body size (also set for <see cref="PacketReadStatus.TooLarge"/>).</param>
    public static PacketReadStatus TryRead(ref ReadOnlySequence<byte> buffer, uint maxBody, out Packet packet, out uint declaredSize)
    {
        packet = default;
        declaredSize = 0;
        if (buffer.Length < HeaderLength) return PacketReadStatus.Incomplete;

        Span<byte> header = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(header);
        var magic = (PacketMagic)BinaryPrimitives.ReadUInt32BigEndian(header);
        if (magic is not (PacketMagic.Request or PacketMagic.Response)) return PacketReadStatus.InvalidMagic;

        var type = (PacketType)BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        declaredSize = BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
        if (declaredSize > maxBody) return PacketReadStatus.TooLarge;
        if (buffer.Length < HeaderLength + (long)declaredSize) return PacketReadStatus.Incomplete;

        packet = new Packet(magic, type, buffer.Slice(HeaderLength, declaredSize));
        buffer = buffer.Slice(HeaderLength + (long)declaredSize);
        return PacketReadStatus.Packet;
    }

    /// <summary>
    /// The type of the packet whose complete header starts <paramref name="buffer"/>; for a reader that was refused a
    /// packet as <see cref="PacketReadStatus.TooLarge"/> and decides what to do with it by its type.
    /// </summary>
    public static PacketType PeekType(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.FirstSpan.Length >= HeaderLength) return PeekType(buffer.FirstSpan);
        Span<byte> header = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(header);
        return (PacketType)BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
    }

    /// <summary>The type of the packet whose complete header starts <paramref name="start"/>.</summary>
    public static PacketType PeekType(ReadOnlySpan<byte> start) => (PacketType)BinaryPrimitives.ReadUInt32BigEndian(start[4..]);

    /// <summary>
    /// True when the next unit in <paramref name="buffer"/> is a binary packet (it starts with NUL);
    /// otherwise it is an admin text line (protocol.md §1.1). Call only on a non-empty buffer.
    /// </summary>
    public static bool StartsWithBinaryPacket(in ReadOnlySequence<byte> buffer)
    {
        var first = buffer.FirstSpan;
        if (first.Length > 0) return first[0] == 0;

        // A non-empty multi-segment sequence may still start with an empty segment.
        return new SequenceReader<byte>(buffer).TryPeek(out byte b) && b == 0;
    }

    /// <summary>
    /// The whole length (header and declared body) of the binary packet that <paramref name="start"/> begins, so a reader
    /// can size its buffer before the body arrives; null while the header is incomplete or for an admin line.
    /// </summary>
    public static long? FrameLength(ReadOnlySpan<byte> start)
        => start.Length >= HeaderLength && start[0] == 0 ? HeaderLength + (long)BinaryPrimitives.ReadUInt32BigEndian(start[8..]) : null;
}
