using System.Buffers;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Connections;

/// <summary>
/// The inbound half of a connection, independent of how bytes arrive: frames packets out of what has been read, hands
/// each to the <see cref="IPacketHandler"/>, and reads past the body of a packet over the size limit without buffering
/// it. Both transports (<see cref="Transports.StreamTransport"/>, <see cref="Transports.SocketThreadTransport"/>) feed one of these; it is
/// used by one reading thread at a time.
/// </summary>
internal sealed class PacketFramer(GearmanConnection connection, IPacketHandler handler, uint maxPacketSize)
{
    private long _discarding; // bytes of an oversized packet still to be read past

    /// <summary>
    /// Handles every whole packet at the start of <paramref name="buffer"/> and advances it past them, to the start of
    /// an incomplete packet (or to its end).
    /// </summary>
    /// <exception cref="GearmanProtocolException">The server sent something that is not a packet, or one over the limit that the handler refuses.</exception>
    public void Consume(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_discarding > 0)
            {
                // Consumed as it arrives, so an oversized body never occupies more than one read's worth of memory.
                long skipped = Math.Min(_discarding, buffer.Length);
                buffer = buffer.Slice(skipped);
                _discarding -= skipped;
                if (_discarding > 0) return;
            }

            var status = PacketReader.TryRead(ref buffer, maxPacketSize, out var packet, out uint size);
            if (status == PacketReadStatus.Incomplete) return;
            if (status == PacketReadStatus.InvalidMagic)
            {
                throw new GearmanProtocolException($"Job server {connection.Endpoint} sent bytes that are not a Gearman packet (bad magic).");
            }

            if (status == PacketReadStatus.TooLarge)
            {
                var type = PacketReader.PeekType(buffer);
                int headLength = handler.OversizedHeadLength(type);
                if (headLength <= 0)
                {
                    throw new GearmanProtocolException($"Job server {connection.Endpoint} announced a packet of {size} bytes, over the limit of {maxPacketSize} bytes.");
                }

                long head = Math.Min(size, headLength);
                if (buffer.Length < PacketReader.HeaderLength + head) return;
                handler.OnOversizedPacket(connection, type, size, buffer.Slice(PacketReader.HeaderLength, head));
                _discarding = PacketReader.HeaderLength + (long)size;
                continue;
            }

            handler.OnPacket(connection, packet);
        }
    }

    /// <summary>
    /// How many bytes <see cref="Consume"/> needs to see at once to make progress with <paramref name="rest"/> (what it
    /// left unconsumed, which starts a packet): the whole packet, or for one over the limit its header and the head the
    /// handler wants. A reader with a fixed buffer grows it to this.
    /// </summary>
    public long BytesWanted(ReadOnlySpan<byte> rest)
    {
        if (_discarding > 0 || rest.Length < PacketReader.HeaderLength) return PacketReader.HeaderLength;
        long frame = PacketReader.FrameLength(rest) ?? PacketReader.HeaderLength;
        if (frame - PacketReader.HeaderLength <= maxPacketSize) return frame;
        return PacketReader.HeaderLength + Math.Min(frame - PacketReader.HeaderLength, Math.Max(0, handler.OversizedHeadLength(PacketReader.PeekType(rest))));
    }
}
