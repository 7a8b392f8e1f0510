using System.Globalization;
using Gearman.Reactive.Protocol;
using Gearman.Server.Scheduling;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>
/// Client-supplied numbers that could overflow or break a timer, and a command that fails halfway: the submitter is
/// answered, everyone else is undisturbed, and no job loses its buffer.
/// </summary>
public sealed class HostileInputTests
{
    private const string EpochTooFar = "ARGUMENT_TOO_LARGE\0SUBMIT_JOB_EPOCH time must be a 64-bit number of Unix seconds at most 315360000 s (3650 days) ahead";

    private static readonly TimeSpan EpochReleaseMargin = TimeSpan.FromMilliseconds(20);

    [Fact]
    public async Task Far_future_epoch_waits_in_bounded_timer_steps_coalesces_and_runs_when_due()
    {
        // More than the 49.7 days a system timer can be armed for at once.
        var time = new SystemLimitedTimeProvider(SchedulerHarness.Start);
        await using var h = new SchedulerHarness(time: time);
        var worker = await h.WorkerAsync("f");
        await worker.SleepAsync();
        var client = await h.ConnectAsync();
        long due = h.Now + (long)TimeSpan.FromDays(60).TotalSeconds;
        string handle = await Epoch(client, "far", due, "later");
        Assert.Equal(handle, await Epoch(client, "far", due, "again"));
        Assert.True(time.LongestArming <= JobScheduler.MaxEpochTimerStep, $"armed for {time.LongestArming}");

        time.Advance(TimeSpan.FromDays(59));
        await worker.SyncAsync();
        Assert.Equal("f\t1\t0\t1", await h.StatusOfAsync("f"));
        time.Advance(TimeSpan.FromDays(1) + EpochReleaseMargin);
        await worker.ExpectAsync(PacketType.Noop, string.Empty);
        await worker.GrabExpectAsync(handle, "f", "later");
    }

    [Theory]
    [InlineData("10000000000000000")]
    [InlineData("9223372036854775807")]
    [InlineData("99999999999999999999")]
    [InlineData("-99999999999999999999")]
    public async Task Epoch_beyond_the_horizon_or_overflowing_gets_an_error_naming_the_limit(string epoch)
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        await client.SendAsync(PacketType.SubmitJobEpoch, "f", "u", epoch, "x");
        await client.ExpectAsync(PacketType.Error, EpochTooFar);
        await client.SyncAsync();
        Assert.Null(await h.StatusOfAsync("f"));
    }

    [Fact]
    public async Task Epoch_at_the_horizon_is_accepted_one_second_beyond_is_refused()
    {
        await using var h = new SchedulerHarness(time: new SystemLimitedTimeProvider(SchedulerHarness.Start));
        var client = await h.ConnectAsync();
        await Epoch(client, string.Empty, h.Now + JobScheduler.MaxEpochHorizonSeconds, "edge");
        await client.SendAsync(PacketType.SubmitJobEpoch, "f", string.Empty, Text(h.Now + JobScheduler.MaxEpochHorizonSeconds + 1), "beyond");
        await client.ExpectAsync(PacketType.Error, EpochTooFar);
        Assert.Equal("f\t1\t0\t0", await h.StatusOfAsync("f"));
    }

    [Theory]
    [InlineData("-9223372036854775807")]
    [InlineData("-1")]
    [InlineData("0")]
    public async Task Past_or_negative_epoch_runs_now(string epoch)
    {
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        await client.SendAsync(PacketType.SubmitJobEpoch, "f", string.Empty, epoch, "now");
        string handle = await CreatedAsync(client);
        var worker = await h.WorkerAsync("f");
        await worker.GrabExpectAsync(handle, "f", "now");
    }

    [Fact]
    public async Task A_command_that_fails_halfway_closes_its_connection_only_and_its_job_keeps_its_buffer()
    {
        // The job is created, then arming the epoch timer throws. Returned buffers are poisoned in tests, so a job whose
        // buffer went back to the pool would show a garbage unique and stop coalescing.
        var time = new SystemLimitedTimeProvider(SchedulerHarness.Start);
        await using var h = new SchedulerHarness(time: time);
        var failing = await h.ConnectAsync();
        var other = await h.ConnectAsync();
        time.FailEveryArming = true;
        await failing.SendAsync(PacketType.SubmitJobEpoch, "f", "u1", Text(h.Now + 10), "data");
        await other.SendAsync(PacketType.EchoReq, "still served");
        await failing.Aborted.WaitAsync(TimeSpan.FromSeconds(10));
        await other.ExpectAsync(PacketType.EchoRes, "still served");
        time.FailEveryArming = false;

        // Traffic that reuses pooled buffers, then the job must still be found by its unique.
        await other.SendAsync(PacketType.EchoReq, "zzzzzzzzzzzzzzzzzzzzzzzz");
        await other.ExpectAsync(PacketType.EchoRes, "zzzzzzzzzzzzzzzzzzzzzzzz");
        Assert.Equal(["u1"], await other.AdminListAsync("show unique jobs"));
        string handle = await other.SubmitAsync(PacketType.SubmitJobBg, "f", "u1", "data");
        Assert.Single(await h.ShowJobsAsync());
        Assert.Contains(await h.ShowJobsAsync(), row => row.StartsWith(handle + "\t", StringComparison.Ordinal));
    }

    [Fact]
    public void Returned_buffers_are_poisoned_in_tests()
    {
        Assert.True(RequestBuffers.PoisonReturned);
        var buffer = RequestBuffers.Rent(16);
        "a unique value"u8.CopyTo(buffer);
        RequestBuffers.Return(buffer);
        Assert.All(buffer, b => Assert.Equal(RequestBuffers.Poison, b));
    }

    private static async Task<string> CreatedAsync(TestPeer client)
    {
        var created = await client.ReadPacketAsync();
        Assert.True(created.Type == (uint)PacketType.JobCreated, $"Expected JOB_CREATED, got {created}");
        return created.BodyText;
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static async Task<string> Epoch(TestPeer client, string unique, long epoch, string data)
    {
        await client.SendAsync(PacketType.SubmitJobEpoch, "f", unique, Text(epoch), data);
        return await CreatedAsync(client);
    }
}
