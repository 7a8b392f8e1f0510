using System.Buffers;
using System.Buffers.Binary;
using CsCheck;
using Gearman.Reactive.Protocol;
using Xunit;

namespace Gearman.Tests.Unit.Protocol;

/// <summary>
/// Properties of the wire codec over generated input (CsCheck; a failure prints the seed that reproduces it and a
/// shrunk example): what the writer writes the reader reads back, in one piece or split anywhere, and no byte string
/// makes the readers or splitters throw; they answer with their own statuses.
/// </summary>
public sealed class CodecPropertyTests
{
    private const long Iterations = 2_000;

    /// <summary>
    /// A packet: its type, magic, and fields per its layout (only the last may hold NULs). Every type the writer has an
    /// overload for: all but SUBMIT_JOB_SCHED (eight fields), which nothing sends.
    /// </summary>
    private static readonly Gen<(PacketType Type, PacketMagic Magic, byte[][] Fields, int Split)> Packets =
        from type in Gen.Int[1, 42].Select(t => (PacketType)t).Where(t => PacketLayout.Of(t).Fields <= 6)
        from magic in Gen.OneOf(Gen.Const(PacketMagic.Request), Gen.Const(PacketMagic.Response))
        from fields in Gen.Byte[1, 255].Array[0, 20].Array[Math.Max(PacketLayout.Of(type).Fields, 0)]
        from last in Gen.Byte.Array[0, 300]
        from split in Gen.Int[0, 400]
        select (type, magic, WithLast(fields, last), split);

    // Before Streams, which uses it (static fields initialise in order).
    private static readonly Gen<byte[]> Headers =
        from magic in Gen.OneOf(Gen.Const(0x00524551u), Gen.Const(0x00524553u), Gen.UInt)
        from type in Gen.OneOf(Gen.UInt[0, 45], Gen.UInt)
        from size in Gen.OneOf(Gen.UInt[0, 64], Gen.UInt, Gen.Const(uint.MaxValue), Gen.Const(0x80000000u))
        select Header(magic, type, size);

    /// <summary>Byte strings biased towards the interesting: valid and invalid magic, NUL-led headers, odd sizes, text lines.</summary>
    private static readonly Gen<byte[]> Streams = Gen.Frequency(
        (3, Gen.Byte.Array[0, 200]),
        (3, from header in Headers from body in Gen.Byte.Array[0, 80] select (byte[])[.. header, .. body]),
        (2, from parts in Gen.OneOf(Headers, Gen.Byte.Array[0, 30], Gen.Const("\r\n"u8.ToArray()), Gen.Const("\0"u8.ToArray())).Array[1, 8]
            select parts.SelectMany(p => p).ToArray()));

    [Fact]
    public void What_the_writer_writes_the_reader_reads_back_whole_or_split_anywhere()
    {
        Packets.Sample(
            p =>
            {
                var written = new ArrayBufferWriter<byte>();
                Write(written, p.Magic, p.Type, p.Fields);
                byte[] bytes = written.WrittenSpan.ToArray();
                int split = Math.Min(p.Split, bytes.Length);
                foreach (var sequence in (ReadOnlySequence<byte>[])[new(bytes), TestSequence.Create(bytes[..split], bytes[split..])])
                {
                    var rest = sequence;
                    Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref rest, uint.MaxValue, out var packet, out uint size));
                    Assert.True(rest.IsEmpty);
                    Assert.Equal(p.Magic, packet.Magic);
                    Assert.Equal(p.Type, packet.Type);
                    Assert.Equal(bytes.Length - PacketReader.HeaderLength, (long)size);
                    Assert.True(PacketFields.TrySplit(p.Type, packet.Body, out var fields));
                    var body = packet.Body.ToArray();
                    Assert.Equal(p.Fields.Length, fields.Count);
                    for (int i = 0; i < p.Fields.Length; i++) Assert.Equal(p.Fields[i], fields.Slice(body, i).ToArray());
                }
            },
            iter: Iterations);
    }

    [Fact]
    public void No_byte_string_makes_the_readers_throw()
    {
        Gen.Select(Streams, Gen.OneOf(Gen.UInt[0, 100], Gen.UInt), Gen.Int[0, 200]).Sample(
            t =>
            {
                var (bytes, maxBody, split) = t;
                split = Math.Min(split, bytes.Length);
                var buffer = TestSequence.Create(bytes[..split], bytes[split..]);
                while (!buffer.IsEmpty)
                {
                    long before = buffer.Length;
                    if (PacketReader.StartsWithBinaryPacket(buffer))
                    {
                        _ = PacketReader.FrameLength(bytes.AsSpan((int)(bytes.Length - buffer.Length)));
                        var status = PacketReader.TryRead(ref buffer, maxBody, out var packet, out uint size);
                        if (status != PacketReadStatus.Packet)
                        {
                            Assert.Equal(before, buffer.Length); // nothing consumed unless a packet was read
                            Assert.True(status != PacketReadStatus.TooLarge || size > maxBody);
                            break;
                        }

                        Assert.Equal(before - PacketReader.HeaderLength - size, buffer.Length);
                        int count = PacketLayout.Of(packet.Type).Fields;
                        if (PacketFields.TrySplit(count, packet.Body, out var fields))
                        {
                            Assert.Equal(count, fields.Count);
                            for (int i = 0; i < count; i++) Assert.InRange(fields[i].Offset + fields[i].Length, 0, packet.Body.Length);
                        }
                    }
                    else
                    {
                        var status = AdminLineReader.TryReadLine(ref buffer, 64, out var line, out _);
                        if (status != AdminLineStatus.Line) break;
                        Assert.True(buffer.Length < before);
                        _ = AdminTokens.TrySplit(line.ToArray(), out _);
                    }
                }
            },
            iter: Iterations);
    }

    private static byte[][] WithLast(byte[][] fields, byte[] last)
    {
        if (fields.Length == 0) return fields;
        fields[^1] = last;
        return fields;
    }

    private static byte[] Header(uint magic, uint type, uint size)
    {
        var header = new byte[PacketReader.HeaderLength];
        BinaryPrimitives.WriteUInt32BigEndian(header, magic);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), type);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), size);
        return header;
    }

    private static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, byte[][] f)
    {
        switch (f.Length)
        {
            case 0: PacketWriter.Write(output, magic, type); break;
            case 1: PacketWriter.Write(output, magic, type, f[0]); break;
            case 2: PacketWriter.Write(output, magic, type, f[0], f[1]); break;
            case 3: PacketWriter.Write(output, magic, type, f[0], f[1], f[2]); break;
            case 4: PacketWriter.Write(output, magic, type, f[0], f[1], f[2], f[3]); break;
            case 5: PacketWriter.Write(output, magic, type, f[0], f[1], f[2], f[3], f[4]); break;
            case 6: PacketWriter.Write(output, magic, type, f[0], f[1], f[2], f[3], f[4], f[5]); break;
            default: throw new ArgumentOutOfRangeException(nameof(f), f.Length, "no layout has more than six fields");
        }
    }
}
