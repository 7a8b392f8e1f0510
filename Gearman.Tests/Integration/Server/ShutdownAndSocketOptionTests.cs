using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Gearman.Reactive.Protocol;
using Gearman.Server.Hosting;
using Gearman.Tests.Conformance;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Server;

/// <summary>gearmand 2.x start-up options: the <c>--shutdown-timeout</c> drain, <c>--keepalive*</c>, <c>show unique jobs</c> 2.2 layout.</summary>
[Trait("Category", "Integration")]
public sealed class ShutdownAndSocketOptionTests
{
    [Theory]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task A_drain_turns_new_connections_away_and_lets_the_running_job_finish(string transport)
    {
        var server = await StartAsync(new GearmanServerOptions { ShutdownDrain = TimeSpan.FromSeconds(30), Transport = Parse(transport) });
        try
        {
            var (client, worker, handle) = await StartRunningJobAsync(server.EndPoint.Port);
            await using var clientConnection = client;
            await using var workerConnection = worker;

            var stopping = server.StopAsync();
            await AssertTurnedAwayAsync(server.EndPoint.Port);
            Assert.False(stopping.IsCompleted, "the stop must wait for the running job");

            await worker.SendAsync(PacketType.WorkComplete, handle, "result");
            await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0result");
            await stopping.WaitAsync(TimeSpan.FromSeconds(15), TestContext.Current.CancellationToken);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_drain_ends_at_the_timeout_when_a_job_does_not_finish()
    {
        var window = TimeSpan.FromSeconds(1);
        var server = await StartAsync(new GearmanServerOptions { ShutdownDrain = window, Transport = TestServers.Transport });
        try
        {
            var (client, worker, handle) = await StartRunningJobAsync(server.EndPoint.Port);
            await using var clientConnection = client;
            await using var workerConnection = worker;

            var clock = Stopwatch.StartNew();
            await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
            Assert.InRange(clock.Elapsed, window - TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(15));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task Keepalive_options_reach_the_accepted_sockets(string transport)
    {
        await using var server = await StartAsync(new GearmanServerOptions { KeepAlive = true, KeepAliveIdle = 4321, KeepAliveInterval = 7, KeepAliveCount = 3, Transport = Parse(transport) });
        await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        await client.SyncAsync();

        // ss shows the server side's keep-alive timer (idle time left, in the first period) for sockets with SO_KEEPALIVE.
        string port = server.EndPoint.Port.ToString(CultureInfo.InvariantCulture);
        await using var ss = await ExternalProgram.RunAsync("ss", ["-tno", "state", "established", $"( sport = :{port} )"], TimeSpan.FromSeconds(10));
        Assert.Equal(0, await ss.WaitForExitAsync());
        string line = Assert.Single(ss.OutputLines, l => l.Contains($":{port} ", StringComparison.Ordinal));
        Assert.Contains("timer:(keepalive,72min", line, StringComparison.Ordinal); // 4321 s = 72 min 1 s
    }

    [Fact]
    public async Task Without_keepalive_accepted_sockets_have_no_keepalive_timer()
    {
        await using var server = await StartAsync(new GearmanServerOptions { Transport = TestServers.Transport });
        await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        await client.SyncAsync();
        string port = server.EndPoint.Port.ToString(CultureInfo.InvariantCulture);
        await using var ss = await ExternalProgram.RunAsync("ss", ["-tno", "state", "established", $"( sport = :{port} )"], TimeSpan.FromSeconds(10));
        Assert.Equal(0, await ss.WaitForExitAsync());
        Assert.DoesNotContain(ss.OutputLines, l => l.Contains("keepalive", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false, "{0}")]
    [InlineData(true, "{1}\t{0}")]
    public async Task Show_unique_jobs_prints_the_chosen_layout(bool withHandles, string rowFormat)
    {
        await using var server = await StartAsync(new GearmanServerOptions { UniqueJobsWithHandles = withHandles, Transport = TestServers.Transport });
        await using var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        string unique = TestNames.Unique("uq");
        string handle = await client.SubmitBackgroundAsync(TestNames.Unique("uqf"), unique, "x");
        Assert.Equal([string.Format(CultureInfo.InvariantCulture, rowFormat, unique, handle)], await client.AdminListAsync("show unique jobs"));
    }

    /// <summary>A foreground job submitted by a client and grabbed by a worker (both connections returned).</summary>
    internal static async Task<(RawGearmanConnection Client, RawGearmanConnection Worker, string Handle)> StartRunningJobAsync(int port)
    {
        var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", port, TestContext.Current.CancellationToken);
        var worker = await RawGearmanConnection.ConnectAsync("127.0.0.1", port, TestContext.Current.CancellationToken);
        string fn = TestNames.Unique("drain");
        string handle = await client.SubmitAsync(fn, "u", "data");
        await worker.CanDoAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "data");
        return (client, worker, handle);
    }

    private static ServerTransport Parse(string transport) => Enum.Parse<ServerTransport>(transport, ignoreCase: true);

    private static Task<GearmanServer> StartAsync(GearmanServerOptions options)
        => GearmanServer.StartAsync(options with { Port = 0, ListenAddress = "127.0.0.1", QueueType = Gearman.Server.Persistence.QueueType.Memory }, TestContext.Current.CancellationToken);

    /// <summary>A new connection is refused (epoll closed its listener) or closed at once (Kestrel's drain gate).</summary>
    internal static async Task AssertTurnedAwayAsync(int port)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken);
                await socket.SendAsync(RawGearmanConnection.Encode(PacketType.EchoReq, "x"), TestContext.Current.CancellationToken);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                int read = await socket.ReceiveAsync(new byte[64], timeout.Token);
                if (read == 0) return;
            }
            catch (SocketException)
            {
                return;
            }

            // Answered: the drain has not closed the door yet (the stop runs concurrently); try again.
            Assert.True(DateTime.UtcNow < deadline, "new connections were still served during the drain");
        }
    }
}
