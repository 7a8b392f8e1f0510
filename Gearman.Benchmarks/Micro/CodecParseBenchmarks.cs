using System.Buffers;
using BenchmarkDotNet.Attributes;
using Gearman.Reactive.Protocol;

namespace Gearman.Benchmarks.Micro;

/// <summary>
/// Framing (<see cref="PacketReader.TryRead"/>) and field splitting (<see cref="PacketFields.TrySplit(PacketType, in ReadOnlySequence{byte}, out PacketFields)"/>)
/// of a job's five packets, from one contiguous segment and from small segments that cut headers and fields apart.
/// Reported per packet; must allocate nothing.
/// </summary>
public class CodecParseBenchmarks
{
    private const int Jobs = 16;
    private const int Packets = Jobs * CodecFixture.PacketsPerJob;

    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _multi;

    /// <summary>Size of each job's payload.</summary>
    [Params(16, 65536)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var bytes = new CodecFixture(PayloadSize).Bytes(Jobs);
        _single = new ReadOnlySequence<byte>(bytes);
        // Small payloads: 23-byte segments split every header and most fields. Large ones: 4 KiB pipe-sized segments.
        _multi = SegmentedSequence.Create(bytes, PayloadSize <= 1024 ? 23 : 4096);
        if (ParseAll(_single) != ParseAll(_multi)) throw new InvalidOperationException("single- and multi-segment parses disagree");
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Packets)]
    public long ParseSingleSegment() => ParseAll(_single);

    [Benchmark(OperationsPerInvoke = Packets)]
    public long ParseMultiSegment() => ParseAll(_multi);

    private static long ParseAll(ReadOnlySequence<byte> buffer)
    {
        long checksum = 0;
        int packets = 0;
        while (PacketReader.TryRead(ref buffer, uint.MaxValue, out var packet, out _) == PacketReadStatus.Packet)
        {
            if (!PacketFields.TrySplit(packet.Type, packet.Body, out var fields)) Fail();
            checksum += fields.Count == 0 ? 0 : fields[fields.Count - 1].Length + fields[0].Offset;
            packets++;
        }

        if (packets != Packets || !buffer.IsEmpty) Fail();
        return checksum;
    }

    private static void Fail() => throw new InvalidOperationException("The benchmark input did not parse.");
}
