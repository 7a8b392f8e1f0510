using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Server.Networking.Epoll;
using Gearman.Server.Scheduling;
using Gearman.Tests.Infrastructure;
using static Gearman.Tests.Infrastructure.TestPayloads;
using Xunit;

namespace Gearman.Tests.Integration.Transport;

/// <summary>
/// Large request bodies (over <see cref="RequestBuffers.MaxPooledLength"/>), whose rest the epoll transport receives
/// straight into the job's buffer when a read ends inside one: split at every awkward boundary, several MiB each way, and a connection
/// that closes inside one. Returned buffers are poisoned in every test, so a body handed on too early shows up as
/// changed data. Wire behaviour is compared with gearmand where gearmand shows it.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LargeBodyReceiveTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(TransportServers.NamesAndGearmand), MemberType = typeof(TransportServers))]
    public async Task Large_bodies_split_at_every_awkward_boundary_arrive_whole(string server)
    {
        await using var running = await TransportServers.StartNamedAsync(server);
        string fn = TestNames.Unique("split");
        var echoBefore = RawGearmanConnection.Encode(PacketType.EchoReq, "before");
        var echoAfter = RawGearmanConnection.Encode(PacketType.EchoReq, "after");

        // A: a 70,000-byte payload; B: a body exactly one byte over the pooled size.
        var payloadA = RandomBytes(70_000, seed: 11);
        int lengthB = RequestBuffers.MaxPooledLength + 1 - (fn.Length + 2 + 6);
        var payloadB = RandomBytes(lengthB, seed: 12);
        int a = echoBefore.Length;
        int sizeA = PacketReader.HeaderLength + fn.Length + 2 + 6 + payloadA.Length;
        int sizeB = PacketReader.HeaderLength + fn.Length + 2 + 6 + lengthB;
        int[] splits =
        [
            a + 1, a + 11, a + PacketReader.HeaderLength, a + PacketReader.HeaderLength + 1, a + sizeA - 1, a + sizeA,
            a + sizeA + 5, a + sizeA + PacketReader.HeaderLength, a + sizeA + sizeB - 1, a + sizeA + sizeB,
        ];

        foreach (int split in splits)
        {
            string uniqueA = $"A{split:D5}", uniqueB = $"B{split:D5}";
            var stream = Concat(
                echoBefore,
                RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), Ascii(uniqueA), payloadA),
                RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), Ascii(uniqueB), payloadB),
                echoAfter,
                "version\n"u8.ToArray());
            Assert.Equal(a + sizeA + sizeB + echoAfter.Length + 8, stream.Length);

            await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", running.Port, TestContext.Current.CancellationToken);
            await client.SendRawAsync(stream.AsMemory(0, split), TestContext.Current.CancellationToken);

            // The reply to the first echo shows the server has read (at least) that far before the rest is sent.
            Assert.Equal("before", (await client.ExpectPacketAsync(PacketType.EchoRes, Timeout)).BodyText);
            await client.SendRawAsync(stream.AsMemory(split), TestContext.Current.CancellationToken);
            await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
            await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
            Assert.Equal("after", (await client.ExpectPacketAsync(PacketType.EchoRes, Timeout)).BodyText);
            Assert.NotEmpty(await client.ReadLineAsync(Timeout));

            var received = await GrabByUniqueAsync(running.Port, fn, 2);

            Assert.True(received[uniqueA].AsSpan().SequenceEqual(payloadA), $"split at {split}: A's data arrived changed");
            Assert.True(received[uniqueB].AsSpan().SequenceEqual(payloadB), $"split at {split}: B's data arrived changed");
        }
    }

    [Theory]
    [MemberData(nameof(TransportServers.NamesAndGearmand), MemberType = typeof(TransportServers))]
    public async Task A_5_MiB_foreground_job_and_its_5_MiB_result_arrive_unchanged(string server)
    {
        await using var running = await TransportServers.StartNamedAsync(server);
        string fn = TestNames.Unique("big_round_trip");
        var payload = RandomBytes(5 << 20, seed: 21);
        var result = RandomBytes(5 << 20, seed: 22);

        await using var worker = await RawGearmanConnection.ConnectAsync("127.0.0.1", running.Port, TestContext.Current.CancellationToken);
        await worker.SendAsync(PacketType.CanDo, fn);
        await worker.SendAsync(PacketType.EchoReq, "registered");
        await worker.ExpectPacketAsync(PacketType.EchoRes, Timeout);

        await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", running.Port, TestContext.Current.CancellationToken);
        await SendInPiecesAsync(client, RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJob, Ascii(fn), "u"u8.ToArray(), payload));
        var handle = (await client.ExpectPacketAsync(PacketType.JobCreated, Timeout)).Body;

        await worker.SendAsync(PacketType.GrabJob);
        var assign = await worker.ExpectPacketAsync(PacketType.JobAssign, Timeout);
        Assert.True(assign.Body.AsSpan(IndexOfNth(assign.Body, 0, 2) + 1).SequenceEqual(payload), "the job's data arrived changed");

        // The result is itself a large request body, relayed to the client.
        await SendInPiecesAsync(worker, RawGearmanConnection.Encode(PacketMagic.Request, PacketType.WorkComplete, handle, result));
        var complete = await client.ExpectPacketAsync(PacketType.WorkComplete, Timeout);
        Assert.True(complete.Body.AsSpan(handle.Length + 1).SequenceEqual(result), "the result arrived changed");
    }

    [Theory]
    [MemberData(nameof(TransportServers.Names), MemberType = typeof(TransportServers))]
    public async Task A_connection_that_closes_inside_a_large_body_is_logged_and_the_server_keeps_serving(string transport)
    {
        using var logs = new LogCapture();
        await using var server = await TransportServers.StartAsync(transport, logs: logs);
        string fn = TestNames.Unique("cut_off");
        var packet = RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), "u"u8.ToArray(), RandomBytes(100_000, seed: 31));
        const int Sent = 30_000;

        await using (var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken))
        {
            await client.SendRawAsync(packet.AsMemory(0, PacketReader.HeaderLength + Sent), TestContext.Current.CancellationToken);
            await client.SendAsync(PacketType.EchoReq, "inside the body");
        }

        // The echo above was part of the unfinished body: nothing was answered, and every byte counts as unread.
        string reason = (await logs.WaitForAsync("BadRequest", Timeout)).ToString();
        int unread = PacketReader.HeaderLength + Sent + RawGearmanConnection.Encode(PacketType.EchoReq, "inside the body").Length;
        Assert.Contains($"({unread} bytes unread)", reason, StringComparison.Ordinal);

        await using var other = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        var status = await other.AdminListAsync("status");
        Assert.DoesNotContain(status, line => line.StartsWith(fn + "\t", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(TransportServers.Names), MemberType = typeof(TransportServers))]
    public async Task A_large_body_with_too_few_fields_closes_the_connection_and_a_large_response_packet_gets_an_error(string transport)
    {
        await using var server = await TransportServers.StartAsync(transport);
        var noSeparators = Enumerable.Repeat((byte)'x', 10_000).ToArray();

        await using (var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken))
        {
            await client.SendAsync(PacketMagic.Request, PacketType.SubmitJob, noSeparators);
            Assert.True(await client.WaitForServerCloseAsync(Timeout), "a SUBMIT_JOB without separators was not refused");
        }

        await using var second = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        await second.SendAsync(PacketMagic.Response, PacketType.EchoReq, noSeparators);
        var error = await second.ExpectPacketAsync(PacketType.Error, Timeout);
        Assert.NotEmpty(error.Body);
        await second.SendAsync(PacketType.EchoReq, "still open");
        Assert.Equal("still open", (await second.ExpectPacketAsync(PacketType.EchoRes, Timeout)).BodyText);
    }

    [Theory]
    [MemberData(nameof(TransportServers.Names), MemberType = typeof(TransportServers))]
    public async Task A_header_over_the_maximum_after_a_large_body_is_refused_with_an_error(string transport)
    {
        await using var server = await TransportServers.StartAsync(transport, o => o with { MaxPacketSize = 100_000 });
        string fn = TestNames.Unique("then_too_large");
        await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), "u"u8.ToArray(), RandomBytes(60_000, seed: 41));
        await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);

        // Only the header of a 200,000-byte SUBMIT_JOB_BG: it is refused without waiting for the body.
        var header = RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJobBg, new byte[200_000])[..PacketReader.HeaderLength];
        await client.SendRawAsync(header, TestContext.Current.CancellationToken);
        var error = await client.ExpectPacketAsync(PacketType.Error, Timeout);
        Assert.Contains("200000", error.BodyText, StringComparison.Ordinal);
        Assert.True(await client.WaitForServerCloseAsync(Timeout), "the connection stayed open after an oversized header");
    }

    [Fact]
    public async Task Large_request_bodies_are_received_in_place_on_a_guess_or_a_peek_and_every_request_arrives_whole()
    {
        await using var server = await TransportServers.StartAsync("epoll");
        string fn = TestNames.Unique("in_place");
        await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);

        // Five jobs of one size, one at a time: the first teaches the connection the size, the other four are guessed.
        var sent = new Dictionary<string, byte[]>();
        for (int i = 0; i < 5; i++)
        {
            sent[$"same{i}"] = RandomBytes(70_000, seed: 50 + i);
            await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), Ascii($"same{i}"), sent[$"same{i}"]);
            await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
        }

        Assert.Equal(4, server.EpollLoops.Sum(l => l.BodiesReceivedInPlace));

        // Over the largest guessed size nothing is guessed (a guess allocates before the data is there).
        for (int i = 0; i < 2; i++)
        {
            sent[$"huge{i}"] = RandomBytes(EpollConnection.PredictedBodyMaximum + 1000, seed: 90 + i);
            await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), Ascii($"huge{i}"), sent[$"huge{i}"]);
            await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
        }

        Assert.Equal(4, server.EpollLoops.Sum(l => l.BodiesReceivedInPlace));

        // The first huge one was a wrong guess, so the connection now peeks at each header before it allocates: a large
        // body of another size, then a small request, a large one split after its header and another after 11 bytes (a
        // read that ends inside the header), then the first size in one write with an echo behind it. Each must arrive
        // whole and in order; the two that come whole at the start of a read are received in place.
        sent["other"] = RandomBytes(50_000, seed: 60);
        await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), "other"u8.ToArray(), sent["other"]);
        await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
        Assert.Equal(5, server.EpollLoops.Sum(l => l.BodiesReceivedInPlace));
        await client.SendAsync(PacketType.EchoReq, "small");
        Assert.Equal("small", (await client.ExpectPacketAsync(PacketType.EchoRes, Timeout)).BodyText);
        foreach (int split in (int[])[PacketReader.HeaderLength, 11])
        {
            string unique = $"split{split:D2}";
            sent[unique] = RandomBytes(50_000, seed: 70 + split);
            var packet = RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), Ascii(unique), sent[unique]);

            // An echo in the same write as the first piece: its reply shows the server has read that write.
            var first = Concat(RawGearmanConnection.Encode(PacketType.EchoReq, unique), packet[..split]);
            await client.SendRawAsync(first, TestContext.Current.CancellationToken);
            Assert.Equal(unique, (await client.ExpectPacketAsync(PacketType.EchoRes, Timeout)).BodyText);
            await client.SendRawAsync(packet.AsMemory(split), TestContext.Current.CancellationToken);
            await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
        }

        sent["last"] = RandomBytes(70_000, seed: 80);
        var last = Concat(
            RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), "last0"u8.ToArray(), sent["last"]),
            RawGearmanConnection.Encode(PacketType.EchoReq, "behind"));
        sent["last0"] = sent["last"];
        sent.Remove("last");
        await client.SendRawAsync(last, TestContext.Current.CancellationToken);
        await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
        Assert.Equal("behind", (await client.ExpectPacketAsync(PacketType.EchoRes, Timeout)).BodyText);
        Assert.Equal(6, server.EpollLoops.Sum(l => l.BodiesReceivedInPlace));

        // Eight reads without a large request end the peeking: the next large one is copied (and teaches its size
        // again), the one after it is guessed.
        for (int i = 0; i < 8; i++)
        {
            await client.SendAsync(PacketType.EchoReq, $"quiet{i}");
            await client.ExpectPacketAsync(PacketType.EchoRes, Timeout);
        }

        for (int i = 0; i < 2; i++)
        {
            sent[$"again{i}"] = RandomBytes(70_000, seed: 100 + i);
            await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Ascii(fn), Ascii($"again{i}"), sent[$"again{i}"]);
            await client.ExpectPacketAsync(PacketType.JobCreated, Timeout);
            Assert.Equal(6 + i, server.EpollLoops.Sum(l => l.BodiesReceivedInPlace));
        }

        var received = await GrabByUniqueAsync(server.EndPoint.Port, fn, sent.Count);

        Assert.Equal(sent.Keys.Order(), received.Keys.Order());
        Assert.All(sent, pair => Assert.True(received[pair.Key].AsSpan().SequenceEqual(pair.Value), $"{pair.Key}'s data arrived changed"));
    }

    /// <summary>Runs <paramref name="count"/> jobs of <paramref name="function"/> as a raw worker; returns each one's data by its unique ID.</summary>
    private static async Task<Dictionary<string, byte[]>> GrabByUniqueAsync(int port, string function, int count)
    {
        await using var worker = await RawGearmanConnection.ConnectAsync("127.0.0.1", port, TestContext.Current.CancellationToken);
        await worker.SendAsync(PacketType.CanDo, function);
        var received = new Dictionary<string, byte[]>();
        for (int i = 0; i < count; i++)
        {
            await worker.SendAsync(PacketType.GrabJobUniq);
            var assign = await worker.ExpectPacketAsync(PacketType.JobAssignUniq, Timeout);
            int uniqueStart = IndexOfNth(assign.Body, 0, 2) + 1;
            int dataStart = IndexOfNth(assign.Body, 0, 3) + 1;
            received[Encoding.ASCII.GetString(assign.Body, uniqueStart, dataStart - 1 - uniqueStart)] = assign.Body[dataStart..];
            await worker.SendAsync(PacketMagic.Request, PacketType.WorkComplete, assign.Body[..IndexOfNth(assign.Body, 0, 1)], []);
        }

        return received;
    }

    /// <summary>Uneven pieces, each its own write, so the server sees the body arrive over many reads.</summary>
    private static async Task SendInPiecesAsync(RawGearmanConnection connection, byte[] packet)
    {
        for (int offset = 0, step = 7; offset < packet.Length; offset += step, step = (step * 13 % 200_003) + 1)
        {
            await connection.SendRawAsync(packet.AsMemory(offset, Math.Min(step, packet.Length - offset)), TestContext.Current.CancellationToken);
        }
    }
}
