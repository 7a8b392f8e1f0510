using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Transport;

/// <summary>
/// <c>JOB_ASSIGN</c>s of large jobs, which the epoll transport sends from the job's own buffer with a gathered write
/// instead of copying them into the outbox: in order with other replies when the kernel takes them in parts, intact when
/// the job is gone before the send, and a worker that leaves in the middle of one. Returned buffers are poisoned in every
/// test, so a body returned while a send still reads it shows up as changed data.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GatheredSendTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static TheoryData<string> Servers => ["gearmand", "epoll", "kestrel"];

    [Theory]
    [MemberData(nameof(Servers))]
    public async Task Large_assignments_sent_in_parts_keep_their_order_with_the_replies_around_them(string server)
    {
        await using var running = await StartAsync(server);
        string fn = TestNames.Unique("gathered_order");
        var payloads = Enumerable.Range(0, 3).Select(i => RandomBytes((3 << 20) + i, seed: 50 + i)).ToArray();
        await using (var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", running.Port, TestContext.Current.CancellationToken))
        {
            for (int i = 0; i < payloads.Length; i++)
            {
                await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), Ascii($"u{i}"), payloads[i]);
                await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
            }
        }

        // A worker that reads slowly through a small buffer: most of each assignment waits for the socket to drain.
        using var worker = await ConnectAsync(running.Port, receiveBuffer: 4096);
        var requests = new MemoryStream();
        requests.Write(RawGearmanConnection.Encode(PacketType.CanDo, fn));
        for (int i = 0; i < payloads.Length; i++)
        {
            requests.Write(RawGearmanConnection.Encode(PacketType.GrabJobUniq));
            requests.Write(RawGearmanConnection.Encode(PacketType.EchoReq, $"after {i}"));
        }

        await worker.SendAsync(requests.ToArray(), TestContext.Current.CancellationToken);
        var seen = new HashSet<string>();
        for (int i = 0; i < payloads.Length; i++)
        {
            var (type, body) = await ReadPacketAsync(worker);
            Assert.Equal(PacketType.JobAssignUniq, type);
            int uniqueStart = IndexOfNth(body, 0, 2) + 1;
            int dataStart = IndexOfNth(body, 0, 3) + 1;
            string unique = Encoding.ASCII.GetString(body, uniqueStart, dataStart - 1 - uniqueStart);
            Assert.True(seen.Add(unique), $"{unique} assigned twice");
            Assert.True(body.AsSpan(dataStart).SequenceEqual(payloads[int.Parse(unique[1..], System.Globalization.CultureInfo.InvariantCulture)]), $"{unique}'s data arrived changed");

            var (echoType, echo) = await ReadPacketAsync(worker);
            Assert.Equal(PacketType.EchoRes, echoType);
            Assert.Equal($"after {i}", Encoding.ASCII.GetString(echo));
        }
    }

    /// <remarks>Ours only: gearmand 1.1.20 closes a worker that completes a job in the same read as its grab.</remarks>
    [Theory]
    [MemberData(nameof(TransportServers.Names), MemberType = typeof(TransportServers))]
    public async Task An_assignment_whose_job_completes_before_it_is_sent_still_carries_the_jobs_data(string server)
    {
        await using var running = await StartAsync(server);
        string fn = TestNames.Unique("gathered_released");
        var payload = RandomBytes(200_000, seed: 61);
        await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", running.Port, TestContext.Current.CancellationToken);
        await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), "u"u8.ToArray(), payload);
        var handle = (await client.ExpectPacketAsync(PacketType.JobCreated, Timeout)).Body;

        // One write: the grab, the completion of the job it gets, and an echo. The server ends the job before it sends
        // the assignment, so the job's buffer is released while the assignment still has to be written from it.
        await using var worker = await RawGearmanConnection.ConnectAsync("127.0.0.1", running.Port, TestContext.Current.CancellationToken);
        await worker.SendAsync(PacketType.CanDo, fn);
        await worker.SendAsync(PacketType.EchoReq, "registered");
        await worker.ExpectPacketAsync(PacketType.EchoRes, Timeout);
        var burst = Concat(
            RawGearmanConnection.Encode(PacketType.GrabJob),
            RawGearmanConnection.Encode(PacketMagic.Request, PacketType.WorkComplete, handle, []),
            RawGearmanConnection.Encode(PacketType.EchoReq, "done"));
        await worker.SendRawAsync(burst, TestContext.Current.CancellationToken);

        var assign = await worker.ExpectPacketAsync(PacketType.JobAssign, Timeout);
        Assert.True(assign.Body.AsSpan(IndexOfNth(assign.Body, 0, 2) + 1).SequenceEqual(payload), "the assignment's data was changed after the job ended");
        Assert.Equal("done", (await worker.ExpectPacketAsync(PacketType.EchoRes, Timeout)).BodyText);
        var status = await worker.AdminListAsync("status");
        Assert.DoesNotContain(status, line => line.StartsWith(fn + "\t1", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(TransportServers.Names), MemberType = typeof(TransportServers))]
    public async Task A_worker_that_leaves_in_the_middle_of_an_assignment_leaves_the_job_intact_for_the_next(string transport)
    {
        await using var server = await TransportServers.StartAsync(transport);
        string fn = TestNames.Unique("gathered_cut");
        var payload = RandomBytes(16 << 20, seed: 71);
        await using (var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken))
        {
            await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), "u"u8.ToArray(), payload);
            await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
        }

        using (var leaving = await ConnectAsync(server.EndPoint.Port, receiveBuffer: 4096))
        {
            await leaving.SendAsync(Concat(RawGearmanConnection.Encode(PacketType.CanDo, fn), RawGearmanConnection.Encode(PacketType.GrabJob)), TestContext.Current.CancellationToken);
            var some = new byte[64 * 1024];
            int read = 0;
            while (read < some.Length)
            {
                int n = await leaving.ReceiveAsync(some.AsMemory(read), TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);
                Assert.NotEqual(0, n);
                read += n;
            }

            leaving.LingerState = new LingerOption(true, 0); // a reset, with most of the assignment unsent
        }

        // The job goes back to the queue when the server sees the worker gone; the next worker gets all of it.
        await using var next = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        await next.SendAsync(PacketType.CanDo, fn);
        RawPacket assign;
        while (true)
        {
            await next.SendAsync(PacketType.GrabJob);
            var reply = await next.ReadPacketAsync(Timeout);
            if (reply.Type == (uint)PacketType.JobAssign)
            {
                assign = reply;
                break;
            }

            Assert.Equal((uint)PacketType.NoJob, reply.Type);
            await next.SendAsync(PacketType.PreSleep);
            await next.ExpectPacketAsync(PacketType.Noop, Timeout);
        }

        Assert.True(assign.Body.AsSpan(IndexOfNth(assign.Body, 0, 2) + 1).SequenceEqual(payload), "the job's data arrived changed");
    }

    private static async Task<RunningServer> StartAsync(string server)
    {
        if (server == "gearmand")
        {
            var gearmand = await TestServers.StartAsync(ServerKind.Gearmand, ct: TestContext.Current.CancellationToken);
            return new RunningServer(gearmand.Port, gearmand);
        }

        var ours = await TransportServers.StartAsync(server);
        return new RunningServer(ours.EndPoint.Port, ours);
    }

    private static async Task<Socket> ConnectAsync(int port, int receiveBuffer)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = receiveBuffer, NoDelay = true };
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        return socket;
    }

    /// <summary>Reads one packet in 4 KiB reads, so the server's socket stays full while it sends.</summary>
    private static async Task<(PacketType Type, byte[] Body)> ReadPacketAsync(Socket socket)
    {
        var header = new byte[PacketReader.HeaderLength];
        await ReceiveExactlyAsync(socket, header);
        var body = new byte[System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8))];
        await ReceiveExactlyAsync(socket, body);
        return ((PacketType)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)), body);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        for (int read = 0; read < buffer.Length;)
        {
            var chunk = buffer.Slice(read, Math.Min(4096, buffer.Length - read));
            int n = await socket.ReceiveAsync(chunk, TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);
            if (n == 0) throw new IOException("the server closed the connection");
            read += n;
        }
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static int IndexOfNth(byte[] bytes, byte value, int n)
    {
        int index = -1;
        for (int i = 0; i < n; i++) index = Array.IndexOf(bytes, value, index + 1);
        return index;
    }

    private sealed record RunningServer(int Port, IAsyncDisposable Server) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Server.DisposeAsync();
    }
}
