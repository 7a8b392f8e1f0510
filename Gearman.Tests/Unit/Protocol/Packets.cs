using System.Buffers;
using System.Buffers.Binary;
using Gearman.Reactive.Protocol;

namespace Gearman.Tests.Unit.Protocol;

/// <summary>Builds packet bytes by hand (independently of <see cref="PacketWriter"/>) and through it.</summary>
internal static class Packets
{
    public static readonly byte[] Req = [0, (byte)'R', (byte)'E', (byte)'Q'];
    public static readonly byte[] Res = [0, (byte)'R', (byte)'E', (byte)'S'];

    /// <summary>A header with the given magic, type and declared size, followed by <paramref name="body"/>.</summary>
    public static byte[] Raw(byte[] magic, uint type, uint declaredSize, byte[] body)
    {
        var bytes = new byte[12 + body.Length];
        magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), type);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), declaredSize);
        body.CopyTo(bytes, 12);
        return bytes;
    }

    /// <summary>A request whose declared size matches <paramref name="body"/>.</summary>
    public static byte[] Raw(uint type, byte[] body) => Raw(Req, type, (uint)body.Length, body);

    /// <summary>A request whose body is <paramref name="fields"/> joined with NULs (no trailing NUL).</summary>
    public static byte[] Raw(uint type, params string[] fields)
        => Raw(type, TestSequence.Bytes(string.Join('\0', fields)));

    /// <summary>Writes <paramref name="fields"/> with the <see cref="PacketWriter"/> overload for their count.</summary>
    public static void Write(IBufferWriter<byte> output, PacketMagic magic, PacketType type, byte[][] fields)
    {
        switch (fields.Length)
        {
            case 0: PacketWriter.Write(output, magic, type); break;
            case 1: PacketWriter.Write(output, magic, type, fields[0]); break;
            case 2: PacketWriter.Write(output, magic, type, fields[0], fields[1]); break;
            case 3: PacketWriter.Write(output, magic, type, fields[0], fields[1], fields[2]); break;
            case 4: PacketWriter.Write(output, magic, type, fields[0], fields[1], fields[2], fields[3]); break;
            case 5: PacketWriter.Write(output, magic, type, fields[0], fields[1], fields[2], fields[3], fields[4]); break;
            case 6: PacketWriter.Write(output, magic, type, fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]); break;
            default:
                // No overload takes eight fields (only SUBMIT_JOB_SCHED has them, and nobody sends it): join them by hand.
                PacketWriter.Write(output, magic, type, TestSequence.Concat([.. fields.SelectMany((f, i) => i == 0 ? new[] { f } : [[0], f])]));
                break;
        }
    }

    public static byte[] Write(PacketMagic magic, PacketType type, byte[][] fields)
    {
        var output = new ArrayBufferWriter<byte>();
        Write(output, magic, type, fields);
        return output.WrittenSpan.ToArray();
    }
}
