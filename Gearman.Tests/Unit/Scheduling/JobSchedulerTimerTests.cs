using Gearman.Reactive.Protocol;
using Gearman.Server.Hosting;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>CAN_DO_TIMEOUT and EPOCH timers on a fake clock (protocol.md §2.5, §2.7, §2.11, §2.12; HEAD behaviour).</summary>
[Trait("Category", "Unit")]
public sealed class JobSchedulerTimerTests
{
    /// <summary>The scheduler releases an epoch job this long after its second starts (see JobScheduler.ArmEpochTimer).</summary>
    private static readonly TimeSpan EpochReleaseMargin = TimeSpan.FromMilliseconds(20);

    [Theory]
    [InlineData("200", 1000)]
    [InlineData("1", 1000)]
    [InlineData("999", 1000)]
    [InlineData("1000", 1000)]
    [InlineData("1500", 1500)]
    [InlineData("1500ms", 1500)]
    public async Task CAN_DO_TIMEOUT_requeues_after_the_effective_timeout(string timeout, int effectiveMs)
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string handle = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "x");
        var slow = await h.ConnectAsync();
        await slow.SendAsync(PacketType.CanDoTimeout, "f", timeout);
        await slow.GrabExpectAsync(handle, "f", "x");
        var peer = await h.WorkerAsync("f");
        await peer.SleepAsync();

        h.Time.Advance(TimeSpan.FromMilliseconds(effectiveMs - 1));
        await peer.SyncAsync();
        Assert.Equal([$"{handle}\t0\t0\t0"], await h.ShowJobsAsync());

        h.Time.Advance(TimeSpan.FromMilliseconds(1));
        await peer.ExpectAsync(PacketType.Noop, string.Empty);
        Assert.Equal([$"{handle}\t1\t0\t0"], await h.ShowJobsAsync());

        // The worker is not told; its late result is refused, and the client hears nothing of it.
        await slow.SendAsync(PacketType.WorkComplete, handle, "late");
        await slow.ExpectAsync(PacketType.Error, "JOB_NOT_FOUND\0Job given in work result not found");
        await peer.GrabExpectAsync(handle, "f", "x");
        await peer.SendAsync(PacketType.WorkComplete, handle, "ok");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0ok");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("abc")]
    public async Task CAN_DO_TIMEOUT_of_zero_negative_or_text_never_fires(string timeout)
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string handle = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "x");
        var worker = await h.ConnectAsync();
        await worker.SendAsync(PacketType.CanDoTimeout, "f", timeout);
        await worker.GrabExpectAsync(handle, "f", "x");
        h.Time.Advance(TimeSpan.FromDays(1));
        await worker.SendAsync(PacketType.WorkComplete, handle, "ok");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0ok");
    }

    [Fact]
    public async Task The_timer_ends_with_the_job()
    {
        // HEAD re-arms a per-connection timer; the spec's C# rule ties it to the assignment: a finished job's timer
        // must not requeue anything later.
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string first = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "1");
        var worker = await h.ConnectAsync();
        await worker.SendAsync(PacketType.CanDoTimeout, "f", "1000");
        await worker.GrabExpectAsync(first, "f", "1");
        await worker.SendAsync(PacketType.WorkComplete, first, "done");
        await client.ExpectAsync(PacketType.WorkComplete, $"{first}\0done");

        string second = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "2");
        h.Time.Advance(TimeSpan.FromMilliseconds(600));
        await worker.GrabExpectAsync(second, "f", "2");

        // 1000 ms after the first assignment: nothing; 1000 ms after the second: the second job times out.
        h.Time.Advance(TimeSpan.FromMilliseconds(600));
        Assert.Equal([$"{second}\t0\t0\t0"], await h.ShowJobsAsync());
        h.Time.Advance(TimeSpan.FromMilliseconds(400));
        Assert.Equal([$"{second}\t1\t0\t0"], await h.ShowJobsAsync());
    }

    [Fact]
    public async Task Each_assignment_gets_its_own_timeout_and_each_expiry_counts_a_retry()
    {
        await using var h = new SchedulerHarness(new GearmanServerOptions { JobRetries = 3 });
        var client = await h.ConnectAsync();
        string handle = await client.SubmitAsync(PacketType.SubmitJob, "f", string.Empty, "x");
        var worker = await h.ConnectAsync();
        await worker.SendAsync(PacketType.CanDoTimeout, "f", "1000");
        for (int run = 1; run <= 3; run++)
        {
            await worker.GrabExpectAsync(handle, "f", "x");
            h.Time.Advance(TimeSpan.FromSeconds(1));
            await worker.SyncAsync();
        }

        // The third expiry reaches -j 3: the client gets WORK_FAIL with the bare handle (§2.11).
        await client.ExpectAsync(PacketType.WorkFail, handle);
        Assert.Empty(await h.ShowJobsAsync());
        Assert.Equal("f\t0\t0\t1", await h.StatusOfAsync("f"));
    }

    [Fact]
    public async Task Future_epoch_job_sends_no_NOOP_until_due_then_wakes_sleepers()
    {
        await using var h = new SchedulerHarness();
        var worker = await h.WorkerAsync("f");
        await worker.SleepAsync();
        var client = await h.ConnectAsync();
        await client.SendAsync(PacketType.SubmitJobEpoch, "f", "u", (h.Now + 10).ToString(System.Globalization.CultureInfo.InvariantCulture), "later");
        string handle = (await client.ReadPacketAsync()).BodyText;
        await worker.SyncAsync();
        Assert.Equal("f\t1\t0\t1", await h.StatusOfAsync("f"));

        h.Time.Advance(TimeSpan.FromSeconds(9));
        await worker.SyncAsync();

        // Released 20 ms into its second, so workers reading C's coarse time() never see it early.
        h.Time.Advance(TimeSpan.FromSeconds(1));
        await worker.SyncAsync();
        h.Time.Advance(EpochReleaseMargin);
        await worker.ExpectAsync(PacketType.Noop, string.Empty);
        await worker.GrabExpectAsync(handle, "f", "later");
    }

    [Fact]
    public async Task Due_epoch_job_keeps_its_submit_position()
    {
        // §2.5: a not-yet-due job stays in place and is skipped; once due it runs before jobs submitted after it.
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string before = await client.SubmitAsync(PacketType.SubmitJobBg, "f", string.Empty, "before");
        await client.SendAsync(PacketType.SubmitJobEpoch, "f", string.Empty, (h.Now + 5).ToString(System.Globalization.CultureInfo.InvariantCulture), "epoch");
        string epoch = (await client.ReadPacketAsync()).BodyText;
        string after1 = await client.SubmitAsync(PacketType.SubmitJobBg, "f", string.Empty, "after1");
        string after2 = await client.SubmitAsync(PacketType.SubmitJobBg, "f", string.Empty, "after2");
        var worker = await h.WorkerAsync("f");
        await worker.GrabExpectAsync(before, "f", "before");
        await worker.GrabExpectAsync(after1, "f", "after1");
        h.Time.Advance(TimeSpan.FromSeconds(5) + EpochReleaseMargin);
        await worker.SyncAsync();
        await worker.GrabExpectAsync(epoch, "f", "epoch");
        await worker.GrabExpectAsync(after2, "f", "after2");
    }

    [Fact]
    public async Task Epoch_timer_rearms_for_each_due_time()
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string late = await SubmitEpochAsync(client, "late", h.Now + 20);
        string early = await SubmitEpochAsync(client, "early", h.Now + 10);
        var worker = await h.WorkerAsync("f");
        await worker.SleepAsync();

        h.Time.Advance(TimeSpan.FromSeconds(10) + EpochReleaseMargin);
        await worker.ExpectAsync(PacketType.Noop, string.Empty);
        await worker.GrabExpectAsync(early, "f", "early");
        await worker.GrabExpectNothingAsync();
        await worker.SleepAsync();
        h.Time.Advance(TimeSpan.FromSeconds(10) + EpochReleaseMargin);
        await worker.ExpectAsync(PacketType.Noop, string.Empty);
        await worker.GrabExpectAsync(late, "f", "late");
    }

    [Fact]
    public async Task Cancelled_epoch_job_never_runs()
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string handle = await SubmitEpochAsync(client, "x", h.Now + 10);
        var admin = await h.ConnectAsync();
        Assert.Equal("OK", await admin.AdminLineAsync($"cancel job {handle}"));
        var worker = await h.WorkerAsync("f");
        await worker.SleepAsync();
        h.Time.Advance(TimeSpan.FromSeconds(10) + EpochReleaseMargin);
        await worker.SyncAsync();
        await worker.GrabExpectNothingAsync();
        Assert.Equal("f\t0\t0\t1", await h.StatusOfAsync("f"));
    }

    private static async Task<string> SubmitEpochAsync(TestPeer client, string data, long epoch)
    {
        await client.SendAsync(PacketType.SubmitJobEpoch, "f", string.Empty, epoch.ToString(System.Globalization.CultureInfo.InvariantCulture), data);
        var created = await client.ReadPacketAsync();
        Assert.Equal((uint)PacketType.JobCreated, created.Type);
        return created.BodyText;
    }
}
