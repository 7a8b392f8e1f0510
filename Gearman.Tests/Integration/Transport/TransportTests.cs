using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Server.Hosting;
using Gearman.Tests.Infrastructure;
using static Gearman.Tests.Infrastructure.TestPayloads;
using Xunit;

namespace Gearman.Tests.Integration.Transport;

/// <summary>
/// Socket-level behaviour of both server transports (epoll and Kestrel): partial writes to a peer that reads slowly,
/// packets larger than a receive buffer, half-close, many connections, and the epoll transport's outbound cap.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TransportTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static TheoryData<string> Transports => ["epoll", "kestrel"];

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_16_MiB_job_reaches_a_worker_with_a_tiny_receive_buffer_in_full(string transport)
    {
        await using var server = await StartAsync(transport);
        string fn = TestNames.Unique("slow_reader");
        var payload = RandomBytes(16 << 20, seed: 1);

        await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Encoding.ASCII.GetBytes(fn), "u"u8.ToArray(), payload);
        await client.ExpectPacketAsync(PacketType.JobCreated);

        // The server's socket buffer holds at most a few MiB (tcp_wmem), so most of the JOB_ASSIGN must wait for EPOLLOUT.
        using var worker = await ConnectAsync(server, receiveBuffer: 4096);
        await SendAsync(worker, RawGearmanConnection.Encode(PacketType.CanDo, fn));
        await SendAsync(worker, RawGearmanConnection.Encode(PacketType.GrabJob));
        var (type, body) = await ReadPacketAsync(worker, chunk: 4096);

        Assert.Equal(PacketType.JobAssign, type);
        int dataStart = IndexOfNth(body, 0, 2) + 1;
        Assert.True(body.AsSpan(dataStart).SequenceEqual(payload), "the job's data arrived changed");
        if (transport == "epoll") Assert.True(server.EpollLoops.Sum(l => l.WritableWaits) > 0, "the reply never waited for EPOLLOUT");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_3_MiB_packet_written_in_small_pieces_is_framed_whole(string transport)
    {
        await using var server = await StartAsync(transport);
        string fn = TestNames.Unique("pieces");
        var payload = RandomBytes(3 << 20, seed: 2);
        var packet = RawGearmanConnection.Encode(PacketMagic.Request, PacketType.SubmitJobBg, Encoding.ASCII.GetBytes(fn), "u"u8.ToArray(), payload);

        using (var client = await ConnectAsync(server))
        {
            // The header a byte at a time, then the body in uneven pieces, each its own send.
            for (int i = 0; i < PacketReader.HeaderLength; i++) await SendAsync(client, packet.AsMemory(i, 1));
            for (int offset = PacketReader.HeaderLength, step = 1000; offset < packet.Length; offset += step, step = (step * 7 % 65_521) + 1)
            {
                await SendAsync(client, packet.AsMemory(offset, Math.Min(step, packet.Length - offset)));
            }

            var (type, _) = await ReadPacketAsync(client);
            Assert.Equal(PacketType.JobCreated, type);
        }

        await using var worker = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        await worker.SendAsync(PacketType.CanDo, fn);
        await worker.SendAsync(PacketType.GrabJob);
        var assign = await worker.ExpectPacketAsync(PacketType.JobAssign);
        int dataStart = IndexOfNth(assign.Body, 0, 2) + 1;
        Assert.True(assign.Body.AsSpan(dataStart).SequenceEqual(payload), "the job's data arrived changed");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Every_request_sent_before_a_half_close_is_answered_before_the_server_closes(string transport)
    {
        await using var server = await StartAsync(transport);
        const int Count = 2000;
        var burst = new MemoryStream();
        for (int i = 0; i < Count; i++) burst.Write(RawGearmanConnection.Encode(PacketType.EchoReq, $"echo {i}"));

        using var client = await ConnectAsync(server);
        await SendAsync(client, burst.ToArray());
        client.Shutdown(SocketShutdown.Send);
        for (int i = 0; i < Count; i++)
        {
            var (type, body) = await ReadPacketAsync(client);
            Assert.Equal(PacketType.EchoRes, type);
            Assert.Equal($"echo {i}", Encoding.ASCII.GetString(body));
        }

        Assert.Equal(0, await ReceiveSomeAsync(client, new byte[16])); // then the server closes
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Three_hundred_connections_at_once_each_get_their_own_replies(string transport)
    {
        await using var server = await StartAsync(transport);
        var sockets = await Task.WhenAll(Enumerable.Range(0, 300).Select(_ => ConnectAsync(server)));
        try
        {
            await Task.WhenAll(sockets.Select(async (socket, i) =>
            {
                for (int round = 0; round < 3; round++)
                {
                    await SendAsync(socket, RawGearmanConnection.Encode(PacketType.EchoReq, $"{i}/{round}"));
                    var (type, body) = await ReadPacketAsync(socket);
                    Assert.Equal(PacketType.EchoRes, type);
                    Assert.Equal($"{i}/{round}", Encoding.ASCII.GetString(body));
                }
            }));
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
        }

        // The server still serves new connections after they all left.
        using var late = await ConnectAsync(server);
        await SendAsync(late, RawGearmanConnection.Encode(PacketType.EchoReq, "late"));
        Assert.Equal("late", Encoding.ASCII.GetString((await ReadPacketAsync(late)).Body));
    }

    [Fact]
    public async Task Two_epoll_threads_share_the_connections_and_serve_them_all()
    {
        await using var server = await StartAsync("epoll", ioThreads: 2);
        var sockets = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => ConnectAsync(server)));
        try
        {
            // A worker on one loop gets a job submitted on another: replies cross threads.
            string fn = TestNames.Unique("two_loops");
            await SendAsync(sockets[0], RawGearmanConnection.Encode(PacketType.CanDo, fn));
            for (int i = 1; i < sockets.Length; i++)
            {
                await SendAsync(sockets[i], RawGearmanConnection.Encode(PacketType.SubmitJob, fn, $"u{i}", $"data {i}"));
                Assert.Equal(PacketType.JobCreated, (await ReadPacketAsync(sockets[i])).Type);
                await SendAsync(sockets[0], RawGearmanConnection.Encode(PacketType.GrabJob));
                var (type, body) = await ReadPacketAsync(sockets[0]);
                Assert.Equal(PacketType.JobAssign, type);
                string handle = Encoding.ASCII.GetString(body, 0, Array.IndexOf(body, (byte)0));
                await SendAsync(sockets[0], RawGearmanConnection.Encode(PacketType.WorkComplete, handle, $"done {i}"));
                var complete = await ReadPacketAsync(sockets[i]);
                Assert.Equal(PacketType.WorkComplete, complete.Type);
                Assert.EndsWith($"done {i}", Encoding.ASCII.GetString(complete.Body), StringComparison.Ordinal);
            }

            Assert.Equal(2, server.EpollLoops.Count);
            Assert.All(server.EpollLoops, loop => Assert.True(loop.ConnectionCount > 0, $"{loop.Name} got no connection"));
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
        }
    }

    [Fact]
    public async Task A_peer_that_never_reads_is_closed_once_its_unsent_replies_exceed_the_cap()
    {
        const int Limit = 1 << 20;
        await using var server = await StartAsync("epoll", Limit);
        using var greedy = await ConnectAsync(server, receiveBuffer: 4096);

        // 64 echoes of 256 KiB: 16 MiB of replies, far more than the socket buffers and the cap can hold.
        var echo = RawGearmanConnection.Encode(PacketType.EchoReq, new string('x', 256 << 10));
        long sent = 0;
        try
        {
            for (int i = 0; i < 64; i++)
            {
                await SendAsync(greedy, echo);
                sent += echo.Length;
            }
        }
        catch (SocketException)
        {
            // The server closed the connection while we were still sending: that is the point.
        }

        // Reading now gets what the kernel had buffered, then the end of the stream (or a reset).
        long received = 0;
        var buffer = new byte[1 << 16];
        try
        {
            int n;
            while ((n = await ReceiveSomeAsync(greedy, buffer)) > 0) received += n;
        }
        catch (SocketException)
        {
        }

        Assert.True(received < 16L << 20, $"received all {received} bytes: the connection was never closed");

        // Other connections are unaffected.
        using var polite = await ConnectAsync(server);
        await SendAsync(polite, RawGearmanConnection.Encode(PacketType.EchoReq, "still here"));
        Assert.Equal("still here", Encoding.ASCII.GetString((await ReadPacketAsync(polite)).Body));
    }

    [Fact]
    public async Task The_command_line_rejects_an_unknown_transport_and_runs_the_Kestrel_one()
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        await using (var bad = await ExternalProgram.RunAsync(dotnet, [ServerProcess.ServerAssembly, "--transport", "carrier-pigeon", "--port", "0"], Timeout))
        {
            Assert.Equal(2, await bad.WaitForExitAsync());
            Assert.Contains("--transport", bad.StandardError, StringComparison.Ordinal);
        }

        await using var server = await ServerProcess.StartAsync(["--queue-type", "memory", "--transport", "kestrel"], ct: TestContext.Current.CancellationToken);
        await using var c = await RawGearmanConnection.ConnectAsync(server, TestContext.Current.CancellationToken);
        await c.SendAsync(PacketType.EchoReq, "kestrel");
        Assert.Equal("kestrel", (await c.ExpectPacketAsync(PacketType.EchoRes)).BodyText);
    }

    /// <summary>
    /// Requests posted to an epoll loop from many threads at once all run: the eventfd wake-up is never lost (a lost one
    /// once left a server adopting no new connections). Each poster waits for its request before posting the next, so
    /// every post must wake the loop on its own, which is where a lost wake-up shows.
    /// </summary>
    [Fact]
    public async Task Requests_posted_to_an_epoll_loop_from_many_threads_all_run()
    {
        await using var server = await StartAsync("epoll");
        var loop = server.EpollLoops.Single();
        const int Posters = 4;
        const int PostsEach = 20_000;
        int ran = 0;
        var posters = Enumerable.Range(0, Posters).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < PostsEach; i++)
            {
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                loop.Post(() =>
                {
                    Interlocked.Increment(ref ran);
                    done.SetResult();
                });
                await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
        })).ToArray();
        await Task.WhenAll(posters);
        Assert.Equal(Posters * PostsEach, Volatile.Read(ref ran));
    }

    private static Task<GearmanServer> StartAsync(string transport, long? maxUnsent = null, int ioThreads = 1)
        => TransportServers.StartAsync(transport, o => o with { MaxUnsentBytes = maxUnsent, IoThreads = ioThreads });

    private static Task<Socket> ConnectAsync(GearmanServer server, int? receiveBuffer = null) => PlainSockets.ConnectAsync(server.EndPoint.Port, receiveBuffer);

    private static Task SendAsync(Socket socket, ReadOnlyMemory<byte> bytes) => PlainSockets.SendAsync(socket, bytes);

    private static Task<int> ReceiveSomeAsync(Socket socket, Memory<byte> buffer) => PlainSockets.ReceiveSomeAsync(socket, buffer);

    private static Task<(PacketType Type, byte[] Body)> ReadPacketAsync(Socket socket, int chunk = 1 << 16) => PlainSockets.ReadPacketAsync(socket, chunk);
}
