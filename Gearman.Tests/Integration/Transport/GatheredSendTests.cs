using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using static Gearman.Tests.Infrastructure.TestPayloads;
using Xunit;

namespace Gearman.Tests.Integration.Transport;

/// <summary>
/// <c>JOB_ASSIGN</c>s of large jobs and large worker results relayed to clients, which the epoll transport sends from the
/// job's or the request's own buffer with a gathered write instead of copying them into the outbox: in order with other
/// replies when the kernel takes them in parts, intact when the job is gone before the send, and a worker that leaves in
/// the middle of one. Returned buffers are poisoned in every test, so a body returned while a send still reads it shows
/// up as changed data.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GatheredSendTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(TransportServers.NamesAndGearmand), MemberType = typeof(TransportServers))]
    public async Task Large_assignments_sent_in_parts_keep_their_order_with_the_replies_around_them(string server)
    {
        await using var running = await TransportServers.StartNamedAsync(server);
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
        using var worker = await PlainSockets.ConnectAsync(running.Port, receiveBuffer: 4096);
        var requests = new MemoryStream();
        requests.Write(RawGearmanConnection.Encode(PacketType.CanDo, fn));
        for (int i = 0; i < payloads.Length; i++)
        {
            requests.Write(RawGearmanConnection.Encode(PacketType.GrabJobUniq));
            requests.Write(RawGearmanConnection.Encode(PacketType.EchoReq, $"after {i}"));
        }

        await PlainSockets.SendAsync(worker, requests.ToArray());
        var seen = new HashSet<string>();
        for (int i = 0; i < payloads.Length; i++)
        {
            var (type, body) = await PlainSockets.ReadPacketAsync(worker, chunk: 4096);
            Assert.Equal(PacketType.JobAssignUniq, type);
            int uniqueStart = IndexOfNth(body, 0, 2) + 1;
            int dataStart = IndexOfNth(body, 0, 3) + 1;
            string unique = Encoding.ASCII.GetString(body, uniqueStart, dataStart - 1 - uniqueStart);
            Assert.True(seen.Add(unique), $"{unique} assigned twice");
            Assert.True(body.AsSpan(dataStart).SequenceEqual(payloads[int.Parse(unique[1..], System.Globalization.CultureInfo.InvariantCulture)]), $"{unique}'s data arrived changed");

            var (echoType, echo) = await PlainSockets.ReadPacketAsync(worker, chunk: 4096);
            Assert.Equal(PacketType.EchoRes, echoType);
            Assert.Equal($"after {i}", Encoding.ASCII.GetString(echo));
        }
    }

    [Theory]
    [MemberData(nameof(TransportServers.NamesAndGearmand), MemberType = typeof(TransportServers))]
    public async Task Large_results_relayed_to_two_slow_clients_arrive_whole_and_in_order_with_the_packets_between_them(string server)
    {
        await using var running = await TransportServers.StartNamedAsync(server);
        string fn = TestNames.Unique("gathered_relay");
        var data = RandomBytes((1 << 20) + 3, seed: 81);
        var result = RandomBytes((3 << 20) + 5, seed: 82);

        // Two clients of one job (the same unique coalesces them), each reading slowly through a small buffer, so most of
        // each relayed result waits for its socket while the other client's copy is sent from the same buffer.
        using var first = await PlainSockets.ConnectAsync(running.Port, receiveBuffer: 4096);
        using var second = await PlainSockets.ConnectAsync(running.Port, receiveBuffer: 4096);
        byte[]? handle = null;
        foreach (var client in (Socket[])[first, second])
        {
            await PlainSockets.SendAsync(client, RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJob, Ascii(fn), "one"u8.ToArray(), "go"u8.ToArray()));
            var (type, body) = await PlainSockets.ReadPacketAsync(client);
            Assert.Equal(PacketType.JobCreated, type);
            Assert.Equal(handle ?? body, body);
            handle = body;
        }

        // The worker's data chunk, a small status and its large result in one write, then an echo: every result is
        // released by the scheduler before the clients' sockets have taken it.
        await using var worker = await RawGearmanConnection.ConnectAsync("127.0.0.1", running.Port, TestContext.Current.CancellationToken);
        await worker.SendAsync(PacketType.CanDo, fn);
        await worker.SendAsync(PacketType.GrabJob);
        var assign = await worker.ExpectPacketAsync(PacketType.JobAssign, Timeout);
        Assert.Equal(handle, assign.Body[..handle!.Length]);
        await worker.SendRawAsync(
            Concat(
                RawGearmanConnection.Encode(PacketMagic.Request, PacketType.WorkData, handle, data),
                RawGearmanConnection.Encode(PacketMagic.Request, PacketType.WorkStatus, handle, "1"u8.ToArray(), "2"u8.ToArray()),
                RawGearmanConnection.Encode(PacketMagic.Request, PacketType.WorkComplete, handle, result),
                RawGearmanConnection.Encode(PacketType.EchoReq, "done")),
            TestContext.Current.CancellationToken);
        Assert.Equal("done", (await worker.ExpectPacketAsync(PacketType.EchoRes, Timeout)).BodyText);

        foreach (var client in (Socket[])[first, second])
        {
            var (dataType, dataBody) = await PlainSockets.ReadPacketAsync(client, chunk: 4096);
            Assert.Equal(PacketType.WorkData, dataType);
            Assert.True(dataBody.AsSpan(handle.Length + 1).SequenceEqual(data), "the WORK_DATA arrived changed");
            var (statusType, statusBody) = await PlainSockets.ReadPacketAsync(client, chunk: 4096);
            Assert.Equal(PacketType.WorkStatus, statusType);
            Assert.Equal(Concat(handle, [0], "1"u8.ToArray(), [0], "2"u8.ToArray()), statusBody);
            var (completeType, completeBody) = await PlainSockets.ReadPacketAsync(client, chunk: 4096);
            Assert.Equal(PacketType.WorkComplete, completeType);
            Assert.True(completeBody.AsSpan(handle.Length + 1).SequenceEqual(result), "the WORK_COMPLETE arrived changed");
        }

        // Epoll sends both large results to both clients from the worker's request buffers; Kestrel copies them.
        if (running.Server is Gearman.Server.Hosting.GearmanServer ours)
        {
            Assert.Equal(server == "epoll" ? 4 : 0, ours.EpollLoops.Sum(l => l.ResultsSentFromRequests));
        }
    }

    /// <remarks>Ours only: gearmand 1.1.20 closes a worker that completes a job in the same read as its grab.</remarks>
    [Theory]
    [MemberData(nameof(TransportServers.Names), MemberType = typeof(TransportServers))]
    public async Task An_assignment_whose_job_completes_before_it_is_sent_still_carries_the_jobs_data(string server)
    {
        await using var running = await TransportServers.StartNamedAsync(server);
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

        using (var leaving = await PlainSockets.ConnectAsync(server.EndPoint.Port, receiveBuffer: 4096))
        {
            await PlainSockets.SendAsync(leaving, Concat(RawGearmanConnection.Encode(PacketType.CanDo, fn), RawGearmanConnection.Encode(PacketType.GrabJob)));
            var some = new byte[64 * 1024];
            int read = 0;
            while (read < some.Length)
            {
                int n = await PlainSockets.ReceiveSomeAsync(leaving, some.AsMemory(read));
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
}
