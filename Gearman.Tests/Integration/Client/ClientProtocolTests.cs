using System.Reactive.Linq;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Protocol;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// The client against a scripted server: exact packets on the wire, reply matching (protocol.md §5.1), and bad input
/// (malformed packets, unknown handles, dead or silent servers) that must fault only what it concerns and never hang.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClientProtocolTests
{
    [Fact(Timeout = 30_000)]
    public async Task A_connection_starts_with_SET_CLIENT_ID_and_OPTION_REQ_exceptions()
    {
        await using var server = FakeJobServer.Start();
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address], ClientId = "me" });

        var task = client.Submit("f", Bytes("x")).StartNow();
        var c = await server.AcceptAsync();

        Assert.Equal("me", (await c.ExpectAsync(PacketType.SetClientId)).BodyText);
        Assert.Equal("exceptions", (await c.ExpectAsync(PacketType.OptionReq)).BodyText);
        await c.ExpectSubmitAsync();
    }

    [Theory(Timeout = 30_000)]
    [InlineData(JobPriority.Normal, false, (int)PacketType.SubmitJob)]
    [InlineData(JobPriority.High, false, (int)PacketType.SubmitJobHigh)]
    [InlineData(JobPriority.Low, false, (int)PacketType.SubmitJobLow)]
    [InlineData(JobPriority.Normal, true, (int)PacketType.SubmitJobBg)]
    [InlineData(JobPriority.High, true, (int)PacketType.SubmitJobHighBg)]
    [InlineData(JobPriority.Low, true, (int)PacketType.SubmitJobLowBg)]
    public async Task Priority_and_background_select_the_submit_packet(JobPriority priority, bool background, int expectedType)
    {
        var expected = (PacketType)expectedType;
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);

        _ = client.Submit("fn", Bytes("pay\0load"), new GearmanJobOptions { Priority = priority, Background = background, Unique = "u-1" }).StartNow();
        var c = await server.AcceptAndHandshakeAsync();

        Assert.Equal(["fn", "u-1", "pay\0load"], await c.ExpectSubmitAsync(expected));
    }

    [Fact(Timeout = 30_000)]
    public async Task Epoch_and_reduce_submits_have_their_documented_layouts()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var runAt = DateTimeOffset.FromUnixTimeSeconds(1_234_567_890);

        _ = client.Submit("ep", Bytes("this dog"), new GearmanJobOptions { Background = true, RunAt = runAt, Unique = "myuniq" }).StartNow();
        var c = await server.AcceptAndHandshakeAsync();
        Assert.Equal(["ep", "myuniq", "1234567890", "this dog"], await c.ExpectSubmitAsync(PacketType.SubmitJobEpoch));

        _ = client.Submit("mapper", Bytes("a b"), new GearmanJobOptions { Reducer = "reducer", Unique = "RU1" }).StartNow();
        Assert.Equal(["mapper", "RU1", "reducer", string.Empty, "a b"], await c.ExpectSubmitAsync(PacketType.SubmitReduceJob));

        _ = client.Submit("mapper", Bytes("a b"), new GearmanJobOptions { Reducer = "reducer", Background = true }).StartNow();
        var bg = await c.ExpectSubmitAsync(PacketType.SubmitReduceJobBackground);
        Assert.True(Guid.TryParse(bg[1], out _), "no unique given: a UUID is sent");
    }

    [Fact(Timeout = 30_000)]
    public async Task Pipelined_submits_are_matched_to_JOB_CREATED_in_order_and_later_packets_by_handle()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var tasks = Enumerable.Range(0, 3).Select(i => client.Submit("f", Bytes($"p{i}")).StartNow()).ToArray();
        var c = await server.AcceptAndHandshakeAsync();
        var payloads = new List<string>();
        for (int i = 0; i < 3; i++) payloads.Add((await c.ExpectSubmitAsync())[2]);

        // JOB_CREATED in submit order; results in reverse, interleaved with data.
        for (int i = 0; i < 3; i++) await c.SendAsync(PacketType.JobCreated, $"H:{i}");
        for (int i = 2; i >= 0; i--)
        {
            await c.SendAsync(PacketType.WorkData, $"H:{i}", $"data of {payloads[i]}");
            await c.SendAsync(PacketType.WorkComplete, $"H:{i}", $"result of {payloads[i]}");
        }

        for (int i = 0; i < 3; i++)
        {
            var events = await tasks[i].EventsAsync();
            int position = payloads.IndexOf($"p{i}");
            Assert.Equal($"H:{position}", events[0].Job.Handle);
            Assert.Equal([$"data of p{i}", $"result of p{i}"], events.Skip(1).Select(e => Text(e.Data)));
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task An_ERROR_fails_the_oldest_pending_submit_only()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var (first, c) = await SubmitOneAsync(client, server, "1");
        var second = client.Submit("f", Bytes("2")).StartNow();
        await c.ExpectSubmitAsync();

        await c.SendAsync(PacketType.Error, "QUEUE_ERROR", "Job queue is full");
        await c.CompleteJobAsync("H:2", "ok");

        var error = await Assert.ThrowsAsync<GearmanServerErrorException>(() => first.EventsAsync());
        Assert.Equal(("QUEUE_ERROR", "Job queue is full"), (error.Code, error.Text));
        Assert.Equal("ok", Text((await second.EventsAsync())[^1].Data));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_refused_exceptions_option_is_not_charged_to_a_submit()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var task = client.Submit("f", Bytes("1")).StartNow();
        var c = await server.AcceptAsync();
        await c.ExpectAsync(PacketType.OptionReq);
        await c.ExpectSubmitAsync();

        await c.SendAsync(PacketType.Error, "UNKNOWN_OPTION", "Server does not recognize given option");
        await c.CompleteJobAsync("H:1", "ok");

        Assert.Equal("ok", Text((await task.EventsAsync())[^1].Data));
    }

    [Theory(Timeout = 30_000)]
    [InlineData("H:1")]
    [InlineData("H:1\0")]
    public async Task WORK_FAIL_matches_its_job_with_or_without_a_trailing_NUL(string body)
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var (task, c) = await SubmitOneAsync(client, server, "x");

        await c.SendAsync(PacketType.JobCreated, "H:1");
        await c.SendBodyAsync(PacketType.WorkFail, body);

        var error = await Assert.ThrowsAsync<GearmanJobFailedException>(() => task.EventsAsync());
        Assert.Equal("H:1", error.Handle);
        Assert.Equal("f", error.Function);
    }

    [Fact(Timeout = 30_000)]
    public async Task Packets_for_an_unknown_handle_are_ignored()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var (task, c) = await SubmitOneAsync(client, server, "x");

        await c.SendAsync(PacketType.JobCreated, "H:1");
        await c.SendAsync(PacketType.WorkComplete, "H:999", "not yours");
        await c.SendAsync(PacketType.WorkFail, "H:998");
        await c.SendAsync(PacketType.WorkData, "H:1", "mine");
        await c.SendAsync(PacketType.WorkComplete, "H:1", "yours");

        var events = await task.EventsAsync();
        Assert.Equal(["mine", "yours"], events.Skip(1).Select(e => Text(e.Data)));
    }

    [Theory(Timeout = 30_000)]
    [InlineData((int)PacketType.WorkStatus, "H:1\x00" + "5")]
    [InlineData((int)PacketType.WorkData, "H:1")]
    [InlineData((int)PacketType.WorkComplete, "H:1")]
    public async Task A_malformed_packet_faults_only_its_job(int packetType, string body)
    {
        var type = (PacketType)packetType;
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var victim = client.Submit("f", Bytes("1")).StartNow();
        var bystander = client.Submit("f", Bytes("2")).StartNow();
        var c = await server.AcceptAndHandshakeAsync();
        var first = await c.ExpectSubmitAsync();
        await c.ExpectSubmitAsync();
        await c.SendAsync(PacketType.JobCreated, first[2] == "1" ? "H:1" : "H:2");
        await c.SendAsync(PacketType.JobCreated, first[2] == "1" ? "H:2" : "H:1");

        await c.SendBodyAsync(type, body);
        await c.SendAsync(PacketType.WorkComplete, "H:2", "fine");

        var error = await Assert.ThrowsAsync<GearmanProtocolException>(() => victim.EventsAsync());
        Assert.Contains(type.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Equal("fine", Text((await bystander.EventsAsync())[^1].Data));
    }

    [Fact(Timeout = 30_000)]
    public async Task Garbage_from_the_server_faults_the_jobs_on_that_connection_and_the_next_submit_reconnects()
    {
        await using var server = FakeJobServer.Start();
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address], ReconnectDelay = TimeSpan.Zero });
        var (task, c) = await SubmitOneAsync(client, server, "1");
        await c.SendAsync(PacketType.JobCreated, "H:1");

        await c.SendRawAsync("\0XYZ\0\0\0\x0d\0\0\0\0"u8.ToArray());

        var error = await Assert.ThrowsAsync<GearmanProtocolException>(() => task.EventsAsync());
        Assert.Contains("magic", error.Message, StringComparison.Ordinal);

        var (next, c2) = await SubmitOneAsync(client, server, "2");
        await c2.CompleteJobAsync("H:2", "ok");
        Assert.Equal("ok", Text((await next.EventsAsync())[^1].Data));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_server_lost_while_the_job_runs_fails_it_with_GearmanConnectionException()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var (task, c) = await SubmitOneAsync(client, server, "1");
        await c.SendAsync(PacketType.JobCreated, "H:1");
        await task.CreatedAsync();

        c.Abort();

        var error = await Assert.ThrowsAsync<GearmanConnectionException>(() => task.EventsAsync());
        Assert.Contains("H:1", error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_submit_whose_server_dies_before_JOB_CREATED_is_retried_on_another_server()
    {
        await using var first = FakeJobServer.Start();
        await using var second = FakeJobServer.Start();
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [first.Address, second.Address] });
        string unique = UniqueFor(client, 0);

        var task = client.Submit("f", Bytes("payload"), new GearmanJobOptions { Unique = unique }).StartNow();
        var dying = await first.AcceptAndHandshakeAsync();
        Assert.Equal(["f", unique, "payload"], await dying.ExpectSubmitAsync());
        dying.Abort();

        var c = await second.AcceptAndHandshakeAsync();
        Assert.Equal(["f", unique, "payload"], await c.ExpectSubmitAsync());
        await c.CompleteJobAsync("H:9", "done elsewhere");

        var events = await task.EventsAsync();
        Assert.Equal(new JobHandle(second.Address, "H:9"), events[0].Job);
        Assert.Equal("done elsewhere", Text(events[^1].Data));
    }

    [Fact(Timeout = 30_000)]
    public async Task With_no_other_server_a_submit_whose_server_dies_fails_instead_of_hanging()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var (task, c) = await SubmitOneAsync(client, server, "x");

        c.Abort();

        var error = await Assert.ThrowsAsync<GearmanConnectionException>(() => task.EventsAsync());
        Assert.Contains("before it acknowledged", error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_server_that_stops_answering_is_dropped_after_ResponseTimeout()
    {
        await using var silent = FakeJobServer.Start();
        await using var spare = FakeJobServer.Start();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var client = NewClient(GearmanClientOptions.Default with
        {
            Servers = [silent.Address, spare.Address],
            ResponseTimeout = TimeSpan.FromSeconds(30),
            TimeProvider = time,
        });
        string unique = UniqueFor(client, 0);
        var task = client.Submit("f", Bytes("x"), new GearmanJobOptions { Unique = unique }).StartNow();
        var c = await silent.AcceptAsync();
        await c.ExpectAsync(PacketType.OptionReq);
        await c.ExpectSubmitAsync();

        time.Advance(TimeSpan.FromSeconds(31));

        // The unanswered submit moves to the other server.
        var other = await spare.AcceptAndHandshakeAsync();
        Assert.Equal(unique, (await other.ExpectSubmitAsync())[1]);
        await other.CompleteJobAsync("H:1", "ok");
        Assert.Equal("ok", Text((await task.EventsAsync())[^1].Data));
        await c.WaitForClientCloseAsync();
    }

    [Fact(Timeout = 30_000)]
    public async Task A_status_query_that_is_never_answered_fails_after_ResponseTimeout()
    {
        await using var server = FakeJobServer.Start();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address], TimeProvider = time });
        var query = client.GetStatusAsync(new JobHandle(server.Address, "H:1"), Ct).AsTask();
        var c = await server.AcceptAndHandshakeAsync();
        await c.ExpectAsync(PacketType.GetStatus);

        time.Advance(TimeSpan.FromSeconds(31));

        var error = await Assert.ThrowsAsync<GearmanConnectionException>(() => query.WaitAsync(Wait, Ct));
        Assert.Contains("ResponseTimeout", error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_dead_server_is_skipped_and_retried_after_its_back_off()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var live = FakeJobServer.Start();
        int deadPort;
        await using (var gone = FakeJobServer.Start()) deadPort = gone.Port;
        string dead = $"127.0.0.1:{deadPort}";
        await using var client = NewClient(GearmanClientOptions.Default with
        {
            Servers = [dead, live.Address],
            ReconnectDelay = TimeSpan.FromSeconds(1),
            TimeProvider = time,
        });
        string unique = UniqueFor(client, 0);
        var options = new GearmanJobOptions { Unique = unique, Background = true };

        // The dead server refuses; the job goes to the live one.
        var submit = client.SubmitBackgroundAsync("f", Bytes("1"), options, Ct).AsTask();
        var c = await live.AcceptAndHandshakeAsync();
        await c.ExpectSubmitAsync(PacketType.SubmitJobBg);
        await c.SendAsync(PacketType.JobCreated, "H:1");
        Assert.Equal(live.Address, (await submit.WaitAsync(Wait, Ct)).Server);

        // It comes back, but is skipped until the back-off has passed...
        await using var revived = FakeJobServer.Start(deadPort);
        submit = client.SubmitBackgroundAsync("f", Bytes("2"), options, Ct).AsTask();
        await c.ExpectSubmitAsync(PacketType.SubmitJobBg);
        await c.SendAsync(PacketType.JobCreated, "H:2");
        Assert.Equal(live.Address, (await submit.WaitAsync(Wait, Ct)).Server);

        // ...then retried.
        time.Advance(TimeSpan.FromSeconds(2));
        submit = client.SubmitBackgroundAsync("f", Bytes("3"), options, Ct).AsTask();
        var back = await revived.AcceptAndHandshakeAsync();
        Assert.Equal("3", (await back.ExpectSubmitAsync(PacketType.SubmitJobBg))[2]);
        await back.SendAsync(PacketType.JobCreated, "H:3");
        Assert.Equal(new JobHandle(dead, "H:3"), await submit.WaitAsync(Wait, Ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task When_every_server_is_down_a_submit_fails_at_once()
    {
        int port;
        await using (var gone = FakeJobServer.Start()) port = gone.Port;
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [$"127.0.0.1:{port}"] });

        var first = await Assert.ThrowsAsync<GearmanConnectionException>(() => client.ExecuteAsync("f", Bytes("x"), cancellationToken: Ct).AsTask());
        var second = await Assert.ThrowsAsync<GearmanConnectionException>(() => client.Submit("f", Bytes("x")).EventsAsync());

        Assert.Contains("No job server could take the job of 'f'", first.Message, StringComparison.Ordinal);
        Assert.Contains("skipped after a failure", second.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Foreground_submits_with_one_unique_id_share_one_submit_and_a_late_joiner_gets_Created_at_once()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var options = new GearmanJobOptions { Unique = "same" };
        var (a, c) = await SubmitOneAsync(client, server, "1", options);
        var b = client.Submit("f", Bytes("2"), options).StartNow();
        await c.SendAsync(PacketType.JobCreated, "H:1");
        await c.SendAsync(PacketType.WorkData, "H:1", "early");
        await Task.WhenAll(a.EventAsync(TaskEventKind.Data), b.EventAsync(TaskEventKind.Data)); // "early" is read before the late joiner comes

        var late = client.Submit("f", Bytes("3"), options).StartNow();
        Assert.Equal("H:1", (await late.CreatedAsync()).Job.Handle);
        await c.SendAsync(PacketType.WorkComplete, "H:1", "r");

        Assert.Equal([TaskEventKind.Created, TaskEventKind.Data, TaskEventKind.Completed], (await a.EventsAsync()).Select(e => e.Kind));
        Assert.Equal([TaskEventKind.Created, TaskEventKind.Data, TaskEventKind.Completed], (await b.EventsAsync()).Select(e => e.Kind));
        Assert.Equal([TaskEventKind.Created, TaskEventKind.Completed], (await late.EventsAsync()).Select(e => e.Kind));

        await AssertNextPacketIsNotASubmitAsync(client, server, c);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_job_abandoned_while_running_is_joined_again_rather_than_resubmitted()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var options = new GearmanJobOptions { Unique = "again" };
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var received = new List<TaskEventKind>();
        var subscription = client.Submit("f", Bytes("1"), options).Subscribe(e =>
        {
            lock (received) received.Add(e.Kind);
            created.TrySetResult();
        });
        var c = await server.AcceptAndHandshakeAsync();
        await c.ExpectSubmitAsync();
        await c.SendAsync(PacketType.JobCreated, "H:1");
        await created.Task.WaitAsync(Wait, Ct);

        // Leave: the server still has this connection attached to H:1, so a new submit must not attach it twice.
        subscription.Dispose();
        var again = client.Submit("f", Bytes("2"), options).StartNow();
        Assert.Equal("H:1", (await again.CreatedAsync()).Job.Handle);
        await AssertNextPacketIsNotASubmitAsync(client, server, c);
        await c.SendAsync(PacketType.WorkComplete, "H:1", "r");

        Assert.Equal("r", Text((await again.EventsAsync())[^1].Data));
        lock (received) Assert.Equal([TaskEventKind.Created], received);
    }

    [Fact(Timeout = 30_000)]
    public async Task Status_replies_are_matched_by_handle_and_by_unique_id()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var q1 = client.GetStatusAsync(new JobHandle(server.Address, "H:1"), Ct).AsTask();
        var c = await server.AcceptAndHandshakeAsync();
        await c.ExpectAsync(PacketType.GetStatus);
        var q2 = client.GetStatusAsync(new JobHandle(server.Address, "H:2"), Ct).AsTask();
        await c.ExpectAsync(PacketType.GetStatus);
        var q3 = client.GetStatusByUniqueAsync("u1", Ct).AsTask();
        Assert.Equal("u1", (await c.ExpectAsync(PacketType.GetStatusUnique)).BodyText);

        await c.SendAsync(PacketType.StatusResUnique, "u1", "1", "0", "0", "0", "2");
        await c.SendAsync(PacketType.StatusRes, "H:2", "1", "1", "3", "4");
        await c.SendAsync(PacketType.StatusRes, "H:1", "0", "0", "0", "0");

        Assert.Equal(new JobStatus(false, false, 0, 0), await q1.WaitAsync(Wait, Ct));
        Assert.Equal(new JobStatus(true, true, 3, 4), await q2.WaitAsync(Wait, Ct));
        Assert.Equal(new JobStatus(true, false, 0, 0, 2), await q3.WaitAsync(Wait, Ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_malformed_status_reply_fails_its_query()
    {
        await using var server = FakeJobServer.Start();
        await using var client = ClientOf(server);
        var query = client.GetStatusAsync(new JobHandle(server.Address, "H:1"), Ct).AsTask();
        var c = await server.AcceptAndHandshakeAsync();
        await c.ExpectAsync(PacketType.GetStatus);

        await c.SendAsync(PacketType.StatusRes, "H:1", "1");

        await Assert.ThrowsAsync<GearmanProtocolException>(() => query.WaitAsync(Wait, Ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task Disposing_the_client_ends_followed_jobs_with_ObjectDisposedException()
    {
        await using var server = FakeJobServer.Start();
        var client = ClientOf(server);
        var (running, c) = await SubmitOneAsync(client, server, "1");
        await c.SendAsync(PacketType.JobCreated, "H:1");
        await running.CreatedAsync();
        var pending = client.Submit("f", Bytes("2")).StartNow();
        await c.ExpectSubmitAsync();

        await client.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => running.EventsAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.EventsAsync());
        await c.WaitForClientCloseAsync();
    }

    /// <summary>A client whose only server is <paramref name="server"/>.</summary>
    private static GearmanClient ClientOf(FakeJobServer server) => NewClient(GearmanClientOptions.Default with { Servers = [server.Address] });

    /// <summary>
    /// Submits one job of <c>f</c> (started at once), accepts the client's next connection to <paramref name="server"/>
    /// with the handshake, and reads the submit.
    /// </summary>
    private static async Task<(IObservable<TaskEvent> Task, FakeConnection Connection)> SubmitOneAsync(
        GearmanClient client, FakeJobServer server, string payload, GearmanJobOptions? options = null)
    {
        var task = client.Submit("f", Bytes(payload), options).StartNow();
        var c = await server.AcceptAndHandshakeAsync();
        await c.ExpectSubmitAsync();
        return (task, c);
    }

    /// <summary>Sends a status query and checks it is the next packet the server reads (so no submit came before it).</summary>
    private static async Task AssertNextPacketIsNotASubmitAsync(GearmanClient client, FakeJobServer server, FakeConnection c)
    {
        var probe = client.GetStatusAsync(new JobHandle(server.Address, "H:probe"), Ct).AsTask();
        Assert.Equal("H:probe", (await c.ExpectAsync(PacketType.GetStatus)).BodyText);
        await c.SendAsync(PacketType.StatusRes, "H:probe", "0", "0", "0", "0");
        Assert.False((await probe.WaitAsync(Wait, Ct)).IsKnown);
    }
}
