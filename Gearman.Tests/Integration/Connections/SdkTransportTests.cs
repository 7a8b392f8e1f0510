using System.Globalization;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Connections.Transports;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Client;
using Xunit;
using Gearman.Tests.Integration.Worker;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Connections;

/// <summary>
/// The SDK's two transports: the Linux reader-thread transport (plaintext default there) and the portable one, their
/// selection, large packets through the reader's buffer, and the reader staying live while user code it runs blocks.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SdkTransportTests
{
    [Fact]
    public void The_reader_thread_transport_is_chosen_only_for_plaintext_where_supported_and_not_asked_to_be_portable()
    {
        var tls = new GearmanTlsOptions();
        Assert.True(GearmanConnection.UsesSocketThread(null, TransportKind.Automatic, portableSwitch: false, supported: true));
        Assert.False(GearmanConnection.UsesSocketThread(tls, TransportKind.Automatic, portableSwitch: false, supported: true));
        Assert.False(GearmanConnection.UsesSocketThread(null, TransportKind.Portable, portableSwitch: false, supported: true));
        Assert.False(GearmanConnection.UsesSocketThread(null, TransportKind.Automatic, portableSwitch: true, supported: true));
        Assert.False(GearmanConnection.UsesSocketThread(null, TransportKind.Automatic, portableSwitch: false, supported: false));
        Assert.Equal(OperatingSystem.IsLinux(), SocketThreadTransport.IsSupported);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Each_transport_carries_jobs_and_is_the_one_selected(bool portable)
    {
        var transport = portable ? TransportKind.Portable : TransportKind.Automatic;
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("t_sel");
        await using var worker = await StartWorkerAsync(Options(server) with { Transport = transport }, fn, Echo);
        await using var client = new GearmanClient(ClientOptions(server) with { Transport = transport });

        for (int i = 0; i < 20; i++)
        {
            var result = await client.ExecuteAsync(fn, Bytes($"job {i}"), cancellationToken: Ct);
            Assert.Equal($"job {i}", Text(result));
        }

        var connection = await client.ConnectionForTestsAsync(Ct);
        bool threaded = transport == TransportKind.Automatic && SocketThreadTransport.IsSupported;
        Assert.Equal(threaded, connection.Transport is SocketThreadTransport);
        if (connection.Transport is SocketThreadTransport socketThread)
        {
            // Connected without .NET's asynchronous engine and used with blocking calls.
            Assert.False(LinuxSockets.IsNonBlocking(socketThread.Descriptor));
        }
    }

    [Theory(Timeout = 60_000)]
    [InlineData(ServerKind.Ours, 65_536 - 12)]
    [InlineData(ServerKind.Ours, 65_536)]
    [InlineData(ServerKind.Ours, 65_536 + 1)]
    [InlineData(ServerKind.Ours, 300_000)]
    [InlineData(ServerKind.Ours, 5 << 20)]
    [InlineData(ServerKind.Gearmand, 65_536 + 1)]
    [InlineData(ServerKind.Gearmand, 5 << 20)]
    public async Task Payloads_around_and_beyond_the_receive_buffer_arrive_whole(ServerKind kind, int size)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("t_big");
        await using var worker = await StartWorkerAsync(Options(server), fn, Echo);
        await using var client = new GearmanClient(ClientOptions(server));
        var payload = new byte[size];
        new Random(size).NextBytes(payload);

        // Several in flight, so that packets share reads and a large one follows a small one in the same buffer.
        var small = client.ExecuteAsync(fn, Bytes("small"), cancellationToken: Ct).AsTask();
        var large = client.ExecuteAsync(fn, payload, cancellationToken: Ct).AsTask();
        var after = client.ExecuteAsync(fn, Bytes("after"), cancellationToken: Ct).AsTask();

        Assert.Equal("small", Text(await small.WaitAsync(WaitLimit, Ct)));
        Assert.True((await large.WaitAsync(WaitLimit, Ct)).Span.SequenceEqual(payload));
        Assert.Equal("after", Text(await after.WaitAsync(WaitLimit, Ct)));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_continuation_that_blocks_on_another_job_of_the_same_connection_is_rescued_by_a_new_reader()
    {
        Assert.SkipUnless(SocketThreadTransport.IsSupported, "The reader-thread transport runs on Linux only.");
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("t_block");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await StartWorkerAsync(Options(server), fn, async (job, ct) =>
        {
            if (Text(job.Workload) == "first") await gate.Task.WaitAsync(ct);
            return job.Workload;
        });
        await using var client = new GearmanClient(ClientOptions(server));
        long takeoversBefore = ReaderWatchdog.Takeovers;

        // The continuation is registered before the reply can exist (the worker waits for the gate), so it runs where
        // the reply is read, as an await's would; a reply that came first would run it on this thread instead.
        var first = client.ExecuteAsync(fn, Bytes("first"), cancellationToken: Ct).GetAwaiter();
        var outcome = new TaskCompletionSource<(string? Thread, string Second)>(TaskCreationOptions.RunContinuationsAsynchronously);
        first.UnsafeOnCompleted(() =>
        {
            try
            {
                first.GetResult();
                string? thread = Thread.CurrentThread.Name;

                // On the reader that read the reply (no hand-over): blocking it on a job whose reply only this
                // connection can read would deadlock without the watchdog.
                outcome.SetResult((thread, BlockOn(client.ExecuteAsync(fn, Bytes("second"), cancellationToken: Ct).AsTask())));
            }
            catch (Exception ex)
            {
                outcome.SetException(ex);
            }
        });
        gate.SetResult();
        var (thread, second) = await outcome.Task.WaitAsync(WaitLimit, Ct);
        Assert.Equal("second", second);
        Assert.StartsWith("Gearman reader", thread, StringComparison.Ordinal);
        Assert.True(ReaderWatchdog.Takeovers > takeoversBefore);

        // And the connection carries on with its new reader.
        Assert.Equal("third", Text(await client.ExecuteAsync(fn, Bytes("third"), cancellationToken: Ct)));
    }

    [Fact(Timeout = 60_000)]
    public async Task Replies_that_arrive_in_one_read_all_resume_even_when_the_first_consumer_blocks()
    {
        Assert.SkipUnless(SocketThreadTransport.IsSupported, "The reader-thread transport runs on Linux only.");
        await using var server = FakeJobServer.Start();
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server.Address] });
        using var secondResumed = new ManualResetEventSlim();
        string? firstThread = null;

        var first = Task.Run(async () =>
        {
            await client.ExecuteAsync("f", Bytes("1"), cancellationToken: Ct);
            firstThread = Thread.CurrentThread.Name;

            // Blocks the reader it resumed on until the second consumer has run, which the same read made ready.
            Assert.True(secondResumed.Wait(WaitLimit), "the second consumer stayed queued behind the blocked first one");
        });
        var c = await server.AcceptAndHandshakeAsync();
        await c.ExpectSubmitAsync();
        var second = Task.Run(async () =>
        {
            await client.ExecuteAsync("f", Bytes("2"), cancellationToken: Ct);
            secondResumed.Set();
        });
        await c.ExpectSubmitAsync();

        // Both jobs' replies in one write, so that one read brings both results.
        await c.SendRawAsync([
            .. RawGearmanConnection.Encode(PacketMagic.Response, PacketType.JobCreated, Bytes("H:1")),
            .. RawGearmanConnection.Encode(PacketMagic.Response, PacketType.JobCreated, Bytes("H:2")),
            .. RawGearmanConnection.Encode(PacketMagic.Response, PacketType.WorkComplete, Bytes("H:1"), Bytes("one")),
            .. RawGearmanConnection.Encode(PacketMagic.Response, PacketType.WorkComplete, Bytes("H:2"), Bytes("two")),
        ]);

        await Task.WhenAll(first, second).WaitAsync(WaitLimit, Ct);
        Assert.StartsWith("Gearman reader", firstThread, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_handler_that_blocks_does_not_stop_its_worker_connection_from_reading()
    {
        Assert.SkipUnless(SocketThreadTransport.IsSupported, "The reader-thread transport runs on Linux only.");
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("t_hblock");
        var release = new ManualResetEventSlim();
        var secondStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await StartWorkerAsync(
            Options(server),
            fn,
            (job, _) =>
            {
                // The first job blocks its thread (the reader that read JOB_ASSIGN) until the second one has started,
                // which needs that connection to read again.
                if (Text(job.Workload) == "first") release.Wait(WaitLimit);
                else secondStarted.TrySetResult();
                return ValueTask.FromResult(job.Workload);
            },
            GearmanFunctionOptions.Default with { BoundedCapacity = 2, MaxDegreeOfParallelism = 2 });
        await using var client = new GearmanClient(ClientOptions(server));

        var first = client.ExecuteAsync(fn, Bytes("first"), cancellationToken: Ct).AsTask();
        var second = client.ExecuteAsync(fn, Bytes("second"), cancellationToken: Ct).AsTask();
        await secondStarted.Task.WaitAsync(WaitLimit, Ct);
        release.Set();
        Assert.Equal("first", Text(await first.WaitAsync(WaitLimit, Ct)));
        Assert.Equal("second", Text(await second.WaitAsync(WaitLimit, Ct)));
    }

    [Fact(Timeout = 60_000)]
    public async Task With_a_poll_set_replies_within_it_are_read_while_polling()
    {
        Assert.SkipUnless(SocketThreadTransport.IsSupported, "The reader-thread transport runs on Linux only.");
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("t_poll");
        await using var worker = await StartWorkerAsync(Options(server), fn, Echo);
        await using var client = new GearmanClient(ClientOptions(server));
        var transport = Assert.IsType<SocketThreadTransport>((await client.ConnectionForTestsAsync(Ct)).Transport);

        // A poll far longer than the test: every reply comes within it, so no read blocks.
        transport.SetPollForTests(TimeSpan.FromSeconds(30));
        Assert.Equal("warm", Text(await client.ExecuteAsync(fn, Bytes("warm"), cancellationToken: Ct))); // the reader was blocked before the poll was set
        long polledBefore = transport.PolledReads;
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal($"job {i}", Text(await client.ExecuteAsync(fn, Bytes($"job {i}"), cancellationToken: Ct)));
        }

        Assert.True(transport.PolledReads - polledBefore >= 20, $"{transport.PolledReads - polledBefore} polled reads for 20 jobs");
        Assert.Equal(0, transport.ExpiredPolls);
    }

    [Fact(Timeout = 60_000)]
    public async Task With_a_poll_set_a_reply_that_comes_later_is_read_by_blocking()
    {
        Assert.SkipUnless(SocketThreadTransport.IsSupported, "The reader-thread transport runs on Linux only.");
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("t_pollout");

        // The worker answers 50 ms after each job starts, far longer than the 1 ms poll below.
        await using var worker = await StartWorkerAsync(Options(server), fn, async (job, ct) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
            return job.Workload;
        });
        await using var client = new GearmanClient(ClientOptions(server));
        var transport = Assert.IsType<SocketThreadTransport>((await client.ConnectionForTestsAsync(Ct)).Transport);
        transport.SetPollForTests(TimeSpan.FromMilliseconds(1));
        Assert.Equal("warm", Text(await client.ExecuteAsync(fn, Bytes("warm"), cancellationToken: Ct)));

        long expiredBefore = transport.ExpiredPolls;
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal($"late {i}", Text(await client.ExecuteAsync(fn, Bytes($"late {i}"), cancellationToken: Ct)));
        }

        Assert.True(transport.ExpiredPolls - expiredBefore >= 3, $"{transport.ExpiredPolls - expiredBefore} expired polls for 3 late replies");
    }

    /// <summary>Waits for <paramref name="job"/> by blocking this thread, as careless user code does.</summary>
#pragma warning disable xUnit1031 // blocking is what the test is about
    private static string BlockOn(Task<ReadOnlyMemory<byte>> job)
    {
        Assert.True(job.Wait(WaitLimit, Ct), "the blocked reader was not taken over");
        return Text(job.Result);
    }
#pragma warning restore xUnit1031

    private static GearmanClientOptions ClientOptions(IServerUnderTest server) => GearmanClientOptions.Default with
    {
        Servers = [$"{server.Host}:{server.Port.ToString(CultureInfo.InvariantCulture)}"],
        LoggerFactory = TestLogging.Factory,
    };
}
