using System.Buffers;
using BenchmarkDotNet.Attributes;
using Gearman.Reactive.Protocol;

namespace Gearman.Benchmarks.Micro;

/// <summary>
/// <see cref="PacketWriter"/> writing a job's five packets into a reused <see cref="ArrayBufferWriter{T}"/>
/// (sized once, reset per invocation), and forwarding a multi-segment payload as WORK_COMPLETE. Reported per packet;
/// must allocate nothing.
/// </summary>
public class CodecWriteBenchmarks
{
    private const int Jobs = 16;
    private const int Packets = Jobs * CodecFixture.PacketsPerJob;

    private CodecFixture _fixture = null!;
    private ArrayBufferWriter<byte> _output = null!;
    private ReadOnlySequence<byte> _borrowedPayload;

    /// <summary>Size of each job's payload.</summary>
    [Params(16, 65536)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new CodecFixture(PayloadSize);
        int forwarded = Packets * (PacketReader.HeaderLength + _fixture.Handle.Length + 1 + PayloadSize);
        _output = new ArrayBufferWriter<byte>(Math.Max(_fixture.Length(Jobs), forwarded));
        _borrowedPayload = SegmentedSequence.Create(_fixture.Payload, PayloadSize <= 1024 ? 7 : 4096);
        if (WriteJobPackets() != _fixture.Length(Jobs)) throw new InvalidOperationException("unexpected length");
        if (ForwardSegmentedPayload() != forwarded) throw new InvalidOperationException("unexpected length");
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Packets)]
    public int WriteJobPackets()
    {
        _output.ResetWrittenCount();
        _fixture.Write(_output, Jobs);
        return _output.WrittenCount;
    }

    /// <summary>WORK_COMPLETE whose data is a borrowed multi-segment slice, as a server forwards it.</summary>
    [Benchmark(OperationsPerInvoke = Packets)]
    public int ForwardSegmentedPayload()
    {
        _output.ResetWrittenCount();
        for (int i = 0; i < Packets; i++)
        {
            PacketWriter.Write(_output, PacketMagic.Response, PacketType.WorkComplete, _fixture.Handle, _borrowedPayload);
        }

        return _output.WrittenCount;
    }
}
