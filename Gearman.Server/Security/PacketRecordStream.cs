using System.Buffers.Binary;

namespace Gearman.Server.Security;

/// <summary>
/// The write side of a TLS connection: hands the <see cref="System.Net.Security.SslStream"/> one write per reply packet,
/// so that every TLS record ends at a packet boundary (or inside a packet that continues in the next record). Peers
/// that read a packet and then wait in <c>select()</c> for the next (Perl's Gearman::Client and Gearman::Worker over
/// IO::Socket::SSL) would otherwise never see a second packet that arrived in the same record: it sits decrypted in
/// their TLS buffer, where <c>select()</c> cannot see it. The records are coalesced again below the TLS stream
/// (<see cref="CoalescingStream"/>), so this costs record framing, not system calls. Reads pass through.
/// </summary>
internal sealed class PacketRecordStream : NonSeekableStream
{
    private const int HeaderLength = 12;
    private readonly Stream _tls;
    private readonly byte[] _header = new byte[HeaderLength];

    /// <summary>Bytes of a packet header written so far when a write ended inside one (0: not inside a header).</summary>
    private int _headerFilled;

    /// <summary>Bytes of the current packet not yet written (0: the next byte starts a packet or a text reply).</summary>
    private long _restOfPacket;

    public PacketRecordStream(Stream tls) => _tls = tls;

    public override bool CanRead => false;

    public override bool CanWrite => true;

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            int length = NextRecordLength(buffer.Span);
            await _tls.WriteAsync(buffer[..length], cancellationToken).ConfigureAwait(false);
            buffer = buffer[length..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        var span = buffer.AsSpan(offset, count);
        while (!span.IsEmpty)
        {
            int length = NextRecordLength(span);
            _tls.Write(span[..length]);
            span = span[length..];
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => _tls.FlushAsync(cancellationToken);

    public override void Flush() => _tls.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>
    /// How much of <paramref name="span"/> to write as one record: the rest of the current packet, the next whole packet,
    /// or text (admin replies) up to the next packet. A header split across writes is kept until its size field is known.
    /// </summary>
    private int NextRecordLength(ReadOnlySpan<byte> span)
    {
        if (_headerFilled > 0)
        {
            int take = Math.Min(HeaderLength - _headerFilled, span.Length);
            span[..take].CopyTo(_header.AsSpan(_headerFilled));
            _headerFilled += take;
            if (_headerFilled < HeaderLength) return take;
            _headerFilled = 0;
            long body = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(8));
            int withBody = (int)Math.Min(take + body, span.Length);
            _restOfPacket = body - (withBody - take);
            return withBody;
        }

        if (_restOfPacket > 0)
        {
            int rest = (int)Math.Min(_restOfPacket, span.Length);
            _restOfPacket -= rest;
            return rest;
        }

        if (span[0] == 0)
        {
            if (span.Length < HeaderLength)
            {
                span.CopyTo(_header);
                _headerFilled = span.Length;
                return span.Length;
            }

            long packet = HeaderLength + (long)BinaryPrimitives.ReadUInt32BigEndian(span[8..]);
            int now = (int)Math.Min(packet, span.Length);
            _restOfPacket = packet - now;
            return now;
        }

        int nextPacket = span.IndexOf((byte)0);
        return nextPacket < 0 ? span.Length : nextPacket;
    }
}
