using System.Buffers;
using System.Text;
using Gearman.Reactive.Protocol;

namespace Gearman.Benchmarks.Micro;

/// <summary>
/// The packets of one foreground job as they cross a server: SUBMIT_JOB, JOB_CREATED, GRAB_JOB_ALL, JOB_ASSIGN_UNIQ
/// and WORK_COMPLETE, with libgearman-sized names (a 36-byte UUID unique, a gearmand-style handle).
/// </summary>
internal sealed class CodecFixture
{
    /// <summary>Packets written per job.</summary>
    public const int PacketsPerJob = 5;

    public CodecFixture(int payloadSize)
    {
        Payload = new byte[payloadSize];
        Random.Shared.NextBytes(Payload);
    }

    public byte[] Function { get; } = Encoding.ASCII.GetBytes("bench_echo");

    public byte[] Unique { get; } = Encoding.ASCII.GetBytes("2116db04-6a1f-11ee-8c99-0242ac120002");

    public byte[] Handle { get; } = Encoding.ASCII.GetBytes("H:bench-host:1234567");

    public byte[] Payload { get; }

    /// <summary>Exact bytes that <paramref name="jobs"/> jobs' worth of packets take.</summary>
    public int Length(int jobs)
    {
        int header = PacketReader.HeaderLength;
        int submit = header + Function.Length + 1 + Unique.Length + 1 + Payload.Length;
        int created = header + Handle.Length;
        int grab = header;
        int assign = header + Handle.Length + 1 + Function.Length + 1 + Unique.Length + 1 + Payload.Length;
        int complete = header + Handle.Length + 1 + Payload.Length;
        return jobs * (submit + created + grab + assign + complete);
    }

    /// <summary>Writes the packets of <paramref name="jobs"/> jobs.</summary>
    public void Write(IBufferWriter<byte> output, int jobs)
    {
        for (int i = 0; i < jobs; i++)
        {
            PacketWriter.Write(output, PacketMagic.Request, PacketType.SubmitJob, Function, Unique, Payload);
            PacketWriter.Write(output, PacketMagic.Response, PacketType.JobCreated, Handle);
            PacketWriter.Write(output, PacketMagic.Request, PacketType.GrabJobAll);
            PacketWriter.Write(output, PacketMagic.Response, PacketType.JobAssignUniq, Handle, Function, Unique, Payload);
            PacketWriter.Write(output, PacketMagic.Request, PacketType.WorkComplete, Handle, Payload);
        }
    }

    /// <summary>The packets of <paramref name="jobs"/> jobs as one array.</summary>
    public byte[] Bytes(int jobs)
    {
        var writer = new ArrayBufferWriter<byte>(Length(jobs));
        Write(writer, jobs);
        if (writer.WrittenCount != Length(jobs)) throw new InvalidOperationException("CodecFixture.Length disagrees with PacketWriter.");
        return writer.WrittenSpan.ToArray();
    }
}
