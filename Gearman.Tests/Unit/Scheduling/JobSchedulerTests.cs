using Gearman.Reactive.Protocol;
using Gearman.Server.Hosting;
using Gearman.Server.Scheduling;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>The scheduler's job state machine, driven through <see cref="ServerCommand"/>s without sockets.</summary>
public sealed class JobSchedulerTests
{
    [Fact]
    public async Task Handles_use_the_prefix_and_a_counter_from_one()
    {
        await using var h = new SchedulerHarness(new GearmanServerOptions { HandlePrefix = "pfx" });
        var c = await h.ConnectAsync();
        Assert.Equal("pfx:1", await c.SubmitAsync(PacketType.SubmitJobBg, "f", "a", "x"));
        Assert.Equal("pfx:1", await c.SubmitAsync(PacketType.SubmitJob, "f", "a", "y"));
        Assert.Equal("pfx:2", await c.SubmitAsync(PacketType.SubmitJobBg, "g", "a", "x"));
    }

    [Fact]
    public async Task Client_leaving_drops_its_queued_job_at_once_and_frees_the_unique()
    {
        // §2.4 abandonment; ours frees at once instead of gearmand's lazy purge.
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string first = await client.SubmitAsync(PacketType.SubmitJob, "f", "U", "x");
        await h.DisconnectAsync(client);
        Assert.Equal("f\t0\t0\t0", await h.StatusOfAsync("f"));
        Assert.Empty(await h.ShowJobsAsync());

        var other = await h.ConnectAsync();
        string second = await other.SubmitAsync(PacketType.SubmitJob, "f", "U", "y");
        Assert.NotEqual(first, second);
        var worker = await h.WorkerAsync("f");
        await worker.GrabExpectAsync(second, "f", "y");
    }

    [Fact]
    public async Task Client_attached_twice_leaving_abandons_the_job_once()
    {
        // Regression: job_total went to -1 when the disconnect visited the same job twice.
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        await client.SubmitAsync(PacketType.SubmitJob, "f", "U", "x");
        await client.SubmitAsync(PacketType.SubmitJobHigh, "f", "U", "x");
        var running = await h.ConnectAsync();
        string other = await running.SubmitAsync(PacketType.SubmitJob, "g", "V", "x");
        await running.SubmitAsync(PacketType.SubmitJob, "g", "V", "x");
        var worker = await h.WorkerAsync("g");
        await worker.GrabExpectAsync(other, "g", "x");

        await h.DisconnectAsync(client);
        await h.DisconnectAsync(running);
        Assert.Equal("f\t0\t0\t0", await h.StatusOfAsync("f"));
        Assert.Equal([$"{other}\t0\t1\t0"], await h.ShowJobsAsync());
        await worker.SendAsync(PacketType.WorkComplete, other, "r");
        await worker.SyncAsync();
        Assert.Equal("g\t0\t0\t1", await h.StatusOfAsync("g"));
    }

    [Fact]
    public async Task Foreground_joiner_leaving_keeps_a_background_job()
    {
        // §2.4 recommendation: do not let a departing foreground joiner kill a background job.
        await using var h = new SchedulerHarness();
        var bg = await h.ConnectAsync();
        var fg = await h.ConnectAsync();
        string handle = await bg.SubmitAsync(PacketType.SubmitJobBg, "f", "U", "x");
        await fg.SubmitAsync(PacketType.SubmitJob, "f", "U", "x");
        await h.DisconnectAsync(fg);
        var worker = await h.WorkerAsync("f");
        await worker.GrabExpectAsync(handle, "f", "x");
    }

    [Fact]
    public async Task Packets_after_a_disconnect_are_ignored()
    {
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        await h.DisconnectAsync(c);
        await c.SendAsync(PacketType.SubmitJobBg, "f", string.Empty, "x");
        Assert.Null(await h.StatusOfAsync("f"));
    }

    [Theory]
    [InlineData(-1, 10, false)]
    [InlineData(0, 1, true)]
    [InlineData(1, 1, true)]
    [InlineData(2, 1, false)]
    [InlineData(2, 2, true)]
    [InlineData(3, 2, false)]
    public async Task Job_retries_follow_HEAD(int limit, int deaths, bool failed)
    {
        // §2.11 HEAD: -1 unlimited, 0 drop at the first failure, N run at most N times.
        await using var h = new SchedulerHarness(new GearmanServerOptions { JobRetries = limit });
        var client = await h.ConnectAsync();
        string handle = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "x");
        for (int i = 0; i < deaths; i++)
        {
            var worker = await h.WorkerAsync("f");
            await worker.GrabExpectAsync(handle, "f", "x");
            await h.DisconnectAsync(worker);
        }

        if (failed)
        {
            await client.ExpectAsync(PacketType.WorkFail, handle);
            Assert.Empty(await h.ShowJobsAsync());
        }
        else
        {
            await client.SyncAsync();
            Assert.Equal([$"{handle}\t{deaths}\t0\t0"], await h.ShowJobsAsync());
        }
    }

    [Fact]
    public async Task Requeue_resets_progress_and_goes_to_the_tail()
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string a = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "a");
        string b = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "b");
        var doomed = await h.WorkerAsync("f");
        await doomed.GrabExpectAsync(a, "f", "a");
        await doomed.SendAsync(PacketType.WorkStatus, a, "5", "9");
        await client.ExpectAsync(PacketType.WorkStatus, $"{a}\05\09");
        await h.DisconnectAsync(doomed);
        await client.SendAsync(PacketType.GetStatus, a);
        await client.ExpectAsync(PacketType.StatusRes, $"{a}\01\00\00\00");
        var peer = await h.WorkerAsync("f");
        await peer.GrabExpectAsync(b, "f", "b");
        await peer.GrabExpectAsync(a, "f", "a");
    }

    [Fact]
    public async Task CANT_DO_requeues_only_that_functions_jobs()
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string hf = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "1");
        string hg = await client.SubmitAsync(PacketType.SubmitJob, "g", string.Empty, "2");
        var worker = await h.WorkerAsync("f", "g");
        await worker.SendAsync(PacketType.GrabJob);
        await worker.ReadPacketAsync();
        await worker.SendAsync(PacketType.GrabJob);
        await worker.ReadPacketAsync();
        await worker.SendAsync(PacketType.CantDo, "g");
        await worker.SendAsync(PacketType.WorkComplete, hg, "late");
        await worker.ExpectAsync(PacketType.Error, "JOB_NOT_FOUND\0Job given in work result not found");
        await worker.SendAsync(PacketType.WorkComplete, hf, "ok");
        await client.ExpectAsync(PacketType.WorkComplete, $"{hf}\0ok");
        Assert.Equal("g\t1\t0\t0", await h.StatusOfAsync("g"));
        Assert.Equal("f\t0\t0\t1", await h.StatusOfAsync("f"));
    }

    [Fact]
    public async Task Priority_is_global_across_functions_with_round_robin()
    {
        // §2.5 HEAD: CAN_DO p1 then p2 (p2 is first in the list).
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        foreach (var (fn, type, data) in new[]
        {
            ("p1", PacketType.SubmitJobHighBg, "p1:H"), ("p1", PacketType.SubmitJobHighBg, "p1:H"),
            ("p1", PacketType.SubmitJobBg, "p1:N"), ("p1", PacketType.SubmitJobBg, "p1:N"),
            ("p1", PacketType.SubmitJobLowBg, "p1:L"), ("p1", PacketType.SubmitJobLowBg, "p1:L"),
            ("p2", PacketType.SubmitJobHighBg, "p2:H"), ("p2", PacketType.SubmitJobLowBg, "p2:L"),
        })
        {
            await c.SubmitAsync(type, fn, string.Empty, data);
        }

        var worker = await h.WorkerAsync("p1", "p2");
        var order = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            await worker.SendAsync(PacketType.GrabJob);
            order.Add((await worker.ReadPacketAsync()).Strings()[2]);
        }

        Assert.Equal(["p2:H", "p1:H", "p1:H", "p1:N", "p1:N", "p2:L", "p1:L", "p1:L"], order);
    }

    [Fact]
    public async Task Round_robin_alternates_functions_of_equal_priority()
    {
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        for (int i = 0; i < 3; i++)
        {
            await c.SubmitAsync(PacketType.SubmitJobBg, "a", string.Empty, "a");
            await c.SubmitAsync(PacketType.SubmitJobBg, "b", string.Empty, "b");
        }

        var worker = await h.WorkerAsync("a", "b");
        var order = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            await worker.SendAsync(PacketType.GrabJob);
            order.Add((await worker.ReadPacketAsync()).Strings()[2]);
        }

        Assert.Equal(["b", "a", "b", "a", "b", "a"], order);
    }

    [Fact]
    public async Task Worker_wakeup_1_rotates_through_sleeping_workers()
    {
        await using var h = new SchedulerHarness(new GearmanServerOptions { WorkerWakeup = 1 });
        var workers = new[] { await h.WorkerAsync("f"), await h.WorkerAsync("f"), await h.WorkerAsync("f") };
        foreach (var w in workers) await w.SleepAsync();
        var c = await h.ConnectAsync();
        for (int job = 0; job < 6; job++)
        {
            string handle = await c.SubmitAsync(PacketType.SubmitJobBg, "f", string.Empty, "x");
            var woken = workers[job % 3];
            await woken.ExpectAsync(PacketType.Noop, string.Empty);
            foreach (var w in workers) await w.SyncAsync();
            await woken.GrabExpectAsync(handle, "f", "x");
            await woken.SleepAsync();
        }
    }

    [Fact]
    public async Task A_sleeping_worker_gets_at_most_one_NOOP_between_grabs()
    {
        await using var h = new SchedulerHarness();
        var worker = await h.WorkerAsync("f", "g");
        await worker.SleepAsync();
        var c = await h.ConnectAsync();
        await c.SubmitAsync(PacketType.SubmitJobBg, "f", string.Empty, "1");
        await c.SubmitAsync(PacketType.SubmitJobBg, "g", string.Empty, "2");
        await worker.ExpectAsync(PacketType.Noop, string.Empty);
        await worker.SyncAsync();
    }

    [Fact]
    public async Task Coalescing_keys()
    {
        // §2.4: exact unique within a function; "-" keys on non-empty data; "" never coalesces.
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        string u = await c.SubmitAsync(PacketType.SubmitJobBg, "f", "U", "x");
        Assert.Equal(u, await c.SubmitAsync(PacketType.SubmitJobHighBg, "f", "U", "other"));
        Assert.NotEqual(u, await c.SubmitAsync(PacketType.SubmitJobBg, "g", "U", "x"));
        string d = await c.SubmitAsync(PacketType.SubmitJobBg, "f", "-", "data");
        Assert.Equal(d, await c.SubmitAsync(PacketType.SubmitJob, "f", "-", "data"));
        Assert.NotEqual(d, await c.SubmitAsync(PacketType.SubmitJobBg, "f", "data", "data"));
        Assert.NotEqual(await c.SubmitAsync(PacketType.SubmitJobBg, "f", "-", string.Empty), await c.SubmitAsync(PacketType.SubmitJobBg, "f", "-", string.Empty));
        Assert.NotEqual(await c.SubmitAsync(PacketType.SubmitJobBg, "f", string.Empty, "x"), await c.SubmitAsync(PacketType.SubmitJobBg, "f", string.Empty, "x"));
    }

    [Fact]
    public async Task GET_STATUS_UNIQUE_describes_the_newest_job_with_that_unique()
    {
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        await c.SubmitAsync(PacketType.SubmitJob, "a", "U", "x");
        string newer = await c.SubmitAsync(PacketType.SubmitJobBg, "b", "U", "x");
        var worker = await h.WorkerAsync("b");
        await worker.GrabExpectAsync(newer, "b", "x");
        await c.SendAsync(PacketType.GetStatusUnique, "U");
        await c.ExpectAsync(PacketType.StatusResUnique, "U\01\01\00\00\00");
    }

    [Fact]
    public async Task WORK_EXCEPTION_goes_to_exceptions_clients_and_WORK_FAIL_to_others()
    {
        await using var h = new SchedulerHarness();
        var plain = await h.ConnectAsync();
        var aware = await h.ConnectAsync(exceptions: true);
        string handle = await plain.SubmitAsync(PacketType.SubmitJob, "f", "U", "x");
        await aware.SubmitAsync(PacketType.SubmitJob, "f", "U", "x");
        var worker = await h.WorkerAsync("f");
        await worker.GrabExpectAsync(handle, "f", "x");
        await worker.SendAsync(PacketType.WorkException, handle, "boom");
        await aware.ExpectAsync(PacketType.WorkException, $"{handle}\0boom");
        await plain.ExpectAsync(PacketType.WorkFail, handle);
    }

    [Fact]
    public async Task Queue_limit_counts_running_jobs_and_spares_coalescing_submits()
    {
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        string first = await c.SubmitAsync(PacketType.SubmitJob, "f", "U", "x");
        var admin = await h.ConnectAsync();
        Assert.Equal("OK", await admin.AdminLineAsync("maxqueue f 1"));
        var worker = await h.WorkerAsync("f");
        await worker.GrabExpectAsync(first, "f", "x");
        await c.SendAsync(PacketType.SubmitJobLow, "f", string.Empty, "y");
        await c.ExpectAsync(PacketType.Error, "QUEUE_ERROR\0Job queue is full");
        Assert.Equal(first, await c.SubmitAsync(PacketType.SubmitJob, "f", "U", "z"));
    }

    [Fact]
    public async Task Cancel_removes_a_queued_job_and_marks_a_running_one()
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string running = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "1");
        string queued = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "2");
        var worker = await h.WorkerAsync("f");
        await worker.GrabExpectAsync(running, "f", "1");
        var admin = await h.ConnectAsync();
        Assert.Equal("OK", await admin.AdminLineAsync($"cancel job {queued}"));
        await client.ExpectAsync(PacketType.WorkFail, queued);
        Assert.Equal("OK", await admin.AdminLineAsync($"cancel job {running}"));
        await client.ExpectAsync(PacketType.WorkFail, running);
        Assert.Equal([$"{running}\t0\t1\t0"], await h.ShowJobsAsync());
        Assert.Equal("ERR UNKNOWN_JOB", await admin.AdminLineAsync($"cancel job {queued}"));
        await worker.GrabExpectNothingAsync();

        // The running job still finishes, and its client still hears it (§2.14).
        await worker.SendAsync(PacketType.WorkComplete, running, "r");
        await client.ExpectAsync(PacketType.WorkComplete, $"{running}\0r");
        Assert.Equal("f\t0\t0\t1", await h.StatusOfAsync("f"));
    }

    [Fact]
    public async Task Drop_function_refuses_queued_jobs_and_drops_an_idle_function()
    {
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        await c.SubmitAsync(PacketType.SubmitJobBg, "f", string.Empty, "x");
        var admin = await h.ConnectAsync();
        Assert.Equal("ERR there are still queued jobs", await admin.AdminLineAsync("drop function f"));
        Assert.Equal("OK", await admin.AdminLineAsync("create function g"));
        Assert.Equal("g\t0\t0\t0", await h.StatusOfAsync("g"));
        Assert.Equal("OK", await admin.AdminLineAsync("drop function G"));
        Assert.Null(await h.StatusOfAsync("g"));
    }

    [Theory]
    [InlineData((int)ProtocolErrorKind.InvalidMagic, "INVALID_MAGIC\0Request magic expected")]
    [InlineData((int)ProtocolErrorKind.InvalidCommand, "INVALID_COMMAND\0Command not expected")]
    public async Task Protocol_errors_become_ERROR_packets_in_order(int errorKind, string body)
    {
        var error = (ProtocolErrorKind)errorKind;
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        await c.SendAsync(PacketType.EchoReq, "before");
        await h.Scheduler.PostAsync(ServerCommand.ForError(c.Connection, error));
        await c.SendAsync(PacketType.EchoReq, "after");
        await c.ExpectAsync(PacketType.EchoRes, "before");
        await c.ExpectAsync(PacketType.Error, body);
        await c.ExpectAsync(PacketType.EchoRes, "after");
    }

    [Theory]
    [InlineData((uint)PacketType.CanDoTimeout, new[] { "f", "123456789012345678901" })]
    [InlineData((uint)PacketType.CanDoTimeout, new[] { "f", "99999999999999999999" })]
    public async Task Overflowing_numbers_close_the_connection(uint typeNumber, string[] fields)
    {
        var type = (PacketType)typeNumber;
        // §1.3: an internal error in gearmand, which closes without ERROR.
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        await c.SendAsync(type, fields);
        await c.Aborted.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(await h.StatusOfAsync("f"));
    }

    [Fact]
    public async Task Oversized_unique_and_reducer_are_refused()
    {
        await using var h = new SchedulerHarness();
        var c = await h.ConnectAsync();
        await c.SendAsync(PacketType.SubmitJob, "f", new string('u', 65), "x");
        await c.ExpectAsync(PacketType.Error, "ARGUMENT_TOO_LARGE\0Unique value too large");
        await c.SendAsync(PacketType.SubmitReduceJob, "f", "u", new string('r', 513), string.Empty, "x");
        await c.ExpectAsync(PacketType.Error, "ARGUMENT_TOO_LARGE\0Reducer name too large");
        string handle = await c.SubmitAsync(PacketType.SubmitJobBg, "f", new string('u', 64), "x");
        var worker = await h.WorkerAsync("f");
        await worker.SendAsync(PacketType.GrabJobUniq);
        await worker.ExpectAsync(PacketType.JobAssignUniq, $"{handle}\0f\0{new string('u', 64)}\0x");
    }
}
