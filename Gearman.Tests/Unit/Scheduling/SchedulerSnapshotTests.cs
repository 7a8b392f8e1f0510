using Gearman.Reactive.Protocol;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>What the monitoring port's snapshots copy of the scheduler's jobs.</summary>
[Trait("Category", "Unit")]
public sealed class SchedulerSnapshotTests
{
    [Fact]
    public async Task A_snapshot_lists_at_most_the_jobs_asked_for_the_oldest_first_and_counts_them_all()
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        var handles = new List<string>();
        for (int i = 0; i < 10; i++) handles.Add(await client.SubmitAsync(PacketType.SubmitJobBg, i % 2 == 0 ? "f" : "g", $"u{i}", "x"));

        var three = await h.Scheduler.AskAsync(s => s.TakeSnapshot(3), TestContext.Current.CancellationToken);
        Assert.Equal(handles.Take(3), three.Jobs.Select(j => j.Handle));
        Assert.Equal(10, three.JobCount);

        var none = await h.Scheduler.AskAsync(s => s.TakeSnapshot(0), TestContext.Current.CancellationToken);
        Assert.Empty(none.Jobs);
        Assert.Equal(10, none.JobCount);
        Assert.Equal(10, none.Functions.Sum(f => f.QueuedNormal));

        var all = await h.Scheduler.AskAsync(s => s.TakeSnapshot(100), TestContext.Current.CancellationToken);
        Assert.Equal(handles, all.Jobs.Select(j => j.Handle));
    }

    [Fact]
    public async Task The_running_job_count_follows_assignments()
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        string handle = await client.SubmitAsync(PacketType.SubmitJob, "f", "u", "x");
        await client.SubmitAsync(PacketType.SubmitJob, "f", "v", "y");
        Assert.Equal(0, await h.Scheduler.AskAsync(s => s.RunningJobCount, TestContext.Current.CancellationToken));

        var worker = await h.WorkerAsync("f");
        await worker.GrabExpectAsync(handle, "f", "x");
        Assert.Equal(1, await h.Scheduler.AskAsync(s => s.RunningJobCount, TestContext.Current.CancellationToken));

        await worker.SendAsync(PacketType.WorkComplete, handle, "r");
        await worker.SyncAsync();
        Assert.Equal(0, await h.Scheduler.AskAsync(s => s.RunningJobCount, TestContext.Current.CancellationToken));
    }
}
