using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>
/// What a client sees while a save is in flight or the store is failing, with a store the test holds and breaks at will:
/// JOB_CREATED only once durable, never a false one, coalescing onto a job being saved, foreground jobs unaffected.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DurableSubmitTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task JOB_CREATED_waits_for_the_save_and_submits_that_coalesce_meanwhile_share_it()
    {
        var store = new ControllableJobStore();
        await using var server = await InProcessServer.StartWithStoreAsync(ServerStartOptions.Default, store, TestContext.Current.CancellationToken);
        await using var first = await RawGearmanConnection.ConnectAsync(server);
        await using var joiner = await RawGearmanConnection.ConnectAsync(server);
        await using var worker = await RawGearmanConnection.ConnectAsync(server);
        string fn = TestNames.Unique("hold");

        store.Hold();
        await first.SendAsync(PacketType.SubmitJobBg, fn, "u", "data");
        await store.WaitUntilAsync(s => s.Batches.Count == 1);

        // The same connection coalesces in the background; another one joins in the foreground.
        await first.SendAsync(PacketType.SubmitJobBg, fn, "u", "other");
        await joiner.SendAsync(PacketType.SubmitJob, fn, "u", "other");
        await first.ExpectNothingAsync(Quiet);
        await joiner.ExpectNothingAsync(TimeSpan.Zero);
        await using (var admin = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Empty(await admin.AdminListAsync("show jobs")); // not a job until it is durable
        }

        store.Release();
        string handle = (await first.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
        Assert.Equal(handle, (await first.ExpectPacketAsync(PacketType.JobCreated)).BodyText);
        Assert.Equal(handle, (await joiner.ExpectPacketAsync(PacketType.JobCreated)).BodyText);
        Assert.Single(store.Rows);

        await worker.SendAsync(PacketType.CanDo, fn);
        var job = (await RawJobs.GrabAsync(worker))!;
        Assert.Equal((handle, "data"), (job.Handle, job.Data));
        await RawJobs.CompleteAsync(worker, job.Handle, "result");
        Assert.Equal(handle + "\0result", (await joiner.ExpectPacketAsync(PacketType.WorkComplete)).BodyText);
        await store.WaitUntilAsync(s => s.Rows.Count == 0);
    }

    [Fact]
    public async Task A_failed_save_answers_QUEUE_ERROR_to_every_waiting_submit_and_leaves_no_job()
    {
        var store = new ControllableJobStore();
        await using var server = await InProcessServer.StartWithStoreAsync(ServerStartOptions.Default, store, TestContext.Current.CancellationToken);
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        string fn = TestNames.Unique("fail");

        store.Hold();
        await client.SendAsync(PacketType.SubmitJobBg, fn, "u", "data");
        await store.WaitUntilAsync(s => s.Batches.Count == 1);

        // A pipelined submit that coalesces into the job being saved, then a request that must wait for both replies.
        await client.SendAsync(PacketType.SubmitJobHighBg, fn, "u", "data");
        await client.SendAsync(PacketType.EchoReq, "after");
        await client.ExpectNothingAsync(Quiet);
        store.SetDown(true);
        store.Release();

        var error = await client.ExpectPacketAsync(PacketType.Error);
        Assert.StartsWith("QUEUE_ERROR\0", error.BodyText, StringComparison.Ordinal);
        Assert.Contains("test store is down", error.BodyText, StringComparison.Ordinal);
        Assert.StartsWith("QUEUE_ERROR\0", (await client.ExpectPacketAsync(PacketType.Error)).BodyText, StringComparison.Ordinal);
        Assert.Equal("after", (await client.ExpectPacketAsync(PacketType.EchoRes)).BodyText);
        Assert.Equal(0, await RawJobs.QueuedAsync(client, fn));
        Assert.Empty(store.Rows);
    }

    [Fact]
    public async Task While_the_store_is_down_background_submits_fail_fast_foreground_jobs_run_and_deletes_wait_for_it()
    {
        var store = new ControllableJobStore();
        await using var server = await InProcessServer.StartWithStoreAsync(ServerStartOptions.Default, store, TestContext.Current.CancellationToken);
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        await using var worker = await RawGearmanConnection.ConnectAsync(server);
        string fn = TestNames.Unique("down");
        await worker.SendAsync(PacketType.CanDo, fn);

        await RawJobs.SubmitBackgroundAsync(client, fn, "stored", "1");
        var stored = (await RawJobs.GrabAsync(worker))!;
        long storedId = Assert.Single(store.Rows).Id;

        store.SetDown(true);

        // The first submit finds out; the next ones are refused without waiting for the store.
        for (int i = 0; i < 3; i++)
        {
            await client.SendAsync(PacketType.SubmitJobBg, fn, $"refused{i}", "x");
            Assert.StartsWith("QUEUE_ERROR\0", (await client.ExpectPacketAsync(PacketType.Error)).BodyText, StringComparison.Ordinal);
        }

        // Foreground work is not affected.
        await client.SendAsync(PacketType.SubmitJob, fn, "fg", "2");
        string fg = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
        var fgJob = (await RawJobs.GrabAsync(worker))!;
        Assert.Equal(fg, fgJob.Handle);
        await RawJobs.CompleteAsync(worker, fg);
        await client.ExpectPacketAsync(PacketType.WorkComplete);

        // The stored job finishes while the store is down: its delete waits and is not lost.
        await RawJobs.CompleteAsync(worker, stored.Handle);
        Assert.Equal(0, await RawJobs.QueuedAsync(client, fn));
        Assert.Contains(store.Rows, r => r.Id == storedId);

        store.SetDown(false);
        await store.WaitUntilAsync(s => s.Batches.Any(b => b.Deletes.Contains(storedId)) && s.Rows.Count == 0, TimeSpan.FromSeconds(20));
        string back = await RawJobs.SubmitBackgroundAsync(client, fn, "back", "3");
        Assert.Equal("back"u8.ToArray(), Assert.Single(store.Rows).Unique.ToArray());
        Assert.Equal(back, (await RawJobs.GrabAsync(worker))!.Handle);
    }
}
