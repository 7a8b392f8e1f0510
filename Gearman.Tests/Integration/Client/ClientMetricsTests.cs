using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Diagnostics;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// The client's instruments on the static <c>Gearman.Reactive</c> meter. Each test listens only to measurements tagged
/// with its own function name (or its own fake server's port), so parallel tests cannot disturb its counts.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClientMetricsTests(ClientServerFixture servers) : IClassFixture<ClientServerFixture>
{
    private const string Submitted = "gearman.client.tasks.submitted";
    private const string Finished = "gearman.client.tasks.finished";
    private const string Duration = "gearman.client.task.duration";

    [Fact(Timeout = 60_000)]
    public void The_meter_publishes_every_documented_instrument_with_its_unit()
    {
        var published = new List<string>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == GearmanMetrics.MeterName) published.Add($"{instrument.Name} ({instrument.GetType().Name.Split('`')[0]}, {instrument.Unit})");
            };

            // The instruments are created with the SDK's metrics class (on first use, in a real program).
            RuntimeHelpers.RunClassConstructor(typeof(GearmanMetrics).TypeHandle);
            listener.Start();
        }

        Assert.Equal(
            [
                "gearman.client.connections (UpDownCounter, {connection})",
                "gearman.client.reconnects (Counter, {connection})",
                "gearman.client.task.duration (Histogram, s)",
                "gearman.client.tasks.finished (Counter, {task})",
                "gearman.client.tasks.submitted (Counter, {task})",
                "gearman.worker.job.duration (Histogram, s)",
                "gearman.worker.jobs.active (UpDownCounter, {job})",
                "gearman.worker.jobs.finished (Counter, {job})",
                "gearman.worker.jobs.started (Counter, {job})",
            ],
            published.Order(StringComparer.Ordinal));
    }

    [Fact(Timeout = 60_000)]
    public async Task ExecuteAsync_and_Submit_count_a_completed_task_each_with_its_duration()
    {
        var server = await servers.GetAsync(ServerKind.Ours);
        string fn = TestNames.Unique("m_done");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            await job.DataAsync("d");
            await job.CompleteAsync("ok");
        });
        await using var client = NewClient(server);

        Assert.Equal("dok", Text(await client.ExecuteAsync(fn, Bytes("1"), cancellationToken: Ct)));
        await client.Submit(fn, Bytes("2")).EventsAsync();

        Assert.Equal(2, probe.Sum(Submitted));
        Assert.Equal(2, probe.Sum(Finished, "gearman.task.outcome=completed"));
        Assert.Equal(2, probe.Sum(Finished));
        Assert.True(probe.Sum(Duration, "gearman.task.outcome=completed") > 0);
    }

    [Fact(Timeout = 60_000)]
    public async Task Fail_and_exception_are_told_apart()
    {
        var server = await servers.GetAsync(ServerKind.Ours);
        string fn = TestNames.Unique("m_fail");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        await using var worker = await TestWorker.StartAsync(server, fn, job =>
            job.PayloadText == "fail" ? job.FailAsync() : job.ExceptionAsync("boom"));
        await using var client = NewClient(server);

        await Assert.ThrowsAsync<GearmanJobFailedException>(() => client.ExecuteAsync(fn, Bytes("fail"), cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<GearmanJobException>(() => client.ExecuteAsync(fn, Bytes("throw"), cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<GearmanJobException>(() => client.Submit(fn, Bytes("throw")).EventsAsync());

        Assert.Equal(3, probe.Sum(Submitted));
        Assert.Equal(1, probe.Sum(Finished, "gearman.task.outcome=failed"));
        Assert.Equal(2, probe.Sum(Finished, "gearman.task.outcome=exception"));
        Assert.True(probe.Sum(Duration, "gearman.task.outcome=failed") > 0);
        Assert.True(probe.Sum(Duration, "gearman.task.outcome=exception") > 0);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_background_submit_ends_as_created()
    {
        var server = await servers.GetAsync(ServerKind.Ours);
        string fn = TestNames.Unique("m_bg");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        await using var client = NewClient(server);

        await client.SubmitBackgroundAsync(fn, Bytes("x"), cancellationToken: Ct);
        await client.Submit(fn, Bytes("y"), new GearmanJobOptions { Background = true }).EventsAsync();

        Assert.Equal(2, probe.Sum(Submitted));
        Assert.Equal(2, probe.Sum(Finished, "gearman.task.outcome=created"));
        Assert.Equal(2, probe.Sum(Finished));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_timeout_counts_as_timeout_with_the_time_measured_on_the_clients_clock()
    {
        var server = await servers.GetAsync(ServerKind.Ours);
        string fn = TestNames.Unique("m_timeout");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address()], TimeProvider = time });

        var task = client.Submit(fn, Bytes("never runs"), new GearmanJobOptions { Timeout = TimeSpan.FromSeconds(5) }).StartNow();
        await task.CreatedAsync();
        time.Advance(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<TimeoutException>(() => task.EventsAsync());

        Assert.Equal(1, probe.Sum(Finished, "gearman.task.outcome=timeout"));
        Assert.Equal(5, probe.Sum(Duration, "gearman.task.outcome=timeout"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Cancelling_or_unsubscribing_counts_as_detached()
    {
        var server = await servers.GetAsync(ServerKind.Ours);
        string fn = TestNames.Unique("m_detach");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        await using var client = NewClient(server);

        using var cts = new CancellationTokenSource();
        var execute = client.ExecuteAsync(fn, Bytes("x"), cancellationToken: cts.Token).AsTask();
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscription = client.Submit(fn, Bytes("y")).Subscribe(e => created.TrySetResult(), _ => { });
        await created.Task.WaitAsync(Wait, Ct);
        await probe.WaitUntilAsync(p => p.Sum(Submitted) == 2);
        await cts.CancelAsync();
        subscription.Dispose();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => execute.WaitAsync(Wait, Ct));
        await probe.WaitUntilAsync(p => p.Sum(Finished, "gearman.task.outcome=detached") == 2);
        Assert.Equal(2, probe.Sum(Finished));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_task_no_server_can_take_counts_as_an_error()
    {
        string fn = TestNames.Unique("m_noserver");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        var fake = FakeJobServer.Start();
        string address = fake.Address;
        await fake.DisposeAsync(); // nothing listens there any more
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [address] });

        await Assert.ThrowsAsync<GearmanConnectionException>(() => client.ExecuteAsync(fn, Bytes("x"), cancellationToken: Ct).AsTask());

        Assert.Equal(1, probe.Sum(Submitted));
        Assert.Equal(1, probe.Sum(Finished, "gearman.task.outcome=error"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Connections_go_up_and_down_and_a_second_connection_to_a_server_is_a_reconnect()
    {
        await using var fake = FakeJobServer.Start();
        using var probe = new SdkMetricsProbe("server.port", fake.Port);
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [fake.Address], ReconnectDelay = TimeSpan.Zero });
        string fn = TestNames.Unique("m_conn");

        var first = client.SubmitBackgroundAsync(fn, Bytes("1"), cancellationToken: Ct).AsTask();
        await using (var connection = await fake.AcceptAndHandshakeAsync())
        {
            await connection.ExpectSubmitAsync(PacketType.SubmitJobBg);
            await connection.SendAsync(PacketType.JobCreated, "H:fake:1");
            await first.WaitAsync(Wait, Ct);
            Assert.Equal(1, probe.Sum("gearman.client.connections"));
            Assert.Equal(0, probe.Sum("gearman.client.reconnects"));
            connection.Abort();
            await probe.WaitUntilAsync(p => p.Sum("gearman.client.connections") == 0);
        }

        var second = client.SubmitBackgroundAsync(fn, Bytes("2"), cancellationToken: Ct).AsTask();
        await using (var connection = await fake.AcceptAndHandshakeAsync())
        {
            await connection.ExpectSubmitAsync(PacketType.SubmitJobBg);
            await connection.SendAsync(PacketType.JobCreated, "H:fake:2");
            await second.WaitAsync(Wait, Ct);
            Assert.Equal(1, probe.Sum("gearman.client.connections"));
            Assert.Equal(1, probe.Sum("gearman.client.reconnects", "server.address=127.0.0.1"));
        }

        await client.DisposeAsync();
        Assert.Equal(0, probe.Sum("gearman.client.connections"));
    }
}
