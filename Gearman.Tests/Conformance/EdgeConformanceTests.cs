using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>Corner cases of attachment, abandonment and cancelling (protocol.md §2.4, §2.11, §2.14, §1.1, §1.3).</summary>
[Trait("Category", "Conformance")]
public sealed class EdgeConformanceTests
{
    [Theory]
    [BothServers]
    public async Task A_connection_that_joins_its_own_job_twice_is_attached_twice(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("twice");
        string unique = TestNames.Unique("T");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, unique, "x");
        Assert.Equal(handle, await client.SubmitAsync(fn, unique, "x"));
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await worker.SendAsync(PacketType.WorkComplete, handle, "r");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0r");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0r");
        await client.SyncAsync();
    }

    [Theory]
    [BothServers]
    public async Task A_client_attached_twice_to_a_queued_job_abandons_it_once(ServerKind kind)
    {
        // §2.4. Job totals must stay exact (gearmand purges lazily: the job still counts until a worker reaches it).
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("twiceq");
        string unique = TestNames.Unique("T");
        var client = await s.ConnectAsync();
        await client.SubmitAsync(fn, unique, "x");
        await client.SubmitAsync(fn, unique, "x");
        await s.CloseAsync(client);
        Assert.Equal(s.IsGearmand ? $"{fn}\t1\t0\t0" : $"{fn}\t0\t0\t0", await (await s.AdminAsync()).StatusOfAsync(fn));

        var other = await s.ConnectAsync();
        string next = await other.SubmitBackgroundAsync(fn, string.Empty, "y");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(next, fn, "y");
        Assert.Equal($"{fn}\t1\t1\t1", await (await s.AdminAsync()).StatusOfAsync(fn));
    }

    [Theory]
    [BothServers]
    public async Task One_of_two_foreground_clients_leaving_keeps_the_job(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("stay");
        string unique = TestNames.Unique("S");
        var leaving = await s.ConnectAsync();
        var staying = await s.ConnectAsync();
        string handle = await leaving.SubmitAsync(fn, unique, "x");
        await staying.SubmitAsync(fn, unique, "x");
        await s.CloseAsync(leaving);
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await worker.SendAsync(PacketType.WorkComplete, handle, "r");
        await staying.ExpectAsync(PacketType.WorkComplete, $"{handle}\0r");
    }

    [Theory]
    [BothServers]
    public async Task A_foreground_joiner_leaving_a_background_job(ServerKind kind)
    {
        // §2.4: gearmand marks the job ignored (it is never run). Known difference, per the spec's recommendation: a
        // departing foreground joiner does not kill a background job in ours.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("bgkeep");
        string unique = TestNames.Unique("K");
        var bg = await s.ConnectAsync();
        var fg = await s.ConnectAsync();
        string handle = await bg.SubmitBackgroundAsync(fn, unique, "x");
        await fg.SubmitAsync(fn, unique, "x");
        await s.CloseAsync(fg);
        var worker = await s.WorkerAsync(fn);
        if (s.IsGearmand)
        {
            await worker.ExpectNoJobAsync();
        }
        else
        {
            Assert.Equal([$"{handle}\t0\t0\t1"], await s.AdminListAsync("show jobs"));
            await worker.GrabExpectAsync(handle, fn, "x");
        }
    }

    [Theory]
    [BothServers]
    public async Task A_worker_dying_with_an_abandoned_job_frees_it(ServerKind kind)
    {
        // Known difference: gearmand requeues the ignored job and frees it when a worker reaches it; ours frees it at once.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("both");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await s.CloseAsync(client);
        await s.CloseAsync(worker);
        if (s.IsGearmand)
        {
            Assert.Equal([$"{handle}\t1\t1\t0"], await s.AdminListAsync("show jobs"));
            Assert.Equal($"{fn}\t1\t0\t0", await (await s.AdminAsync()).StatusOfAsync(fn));
            var peer = await s.WorkerAsync(fn);
            await peer.ExpectNoJobAsync();
        }

        Assert.Equal($"{fn}\t0\t0\t{(s.IsGearmand ? 1 : 0)}", await (await s.AdminAsync()).StatusOfAsync(fn));
        Assert.Empty(await s.AdminListAsync("show jobs"));
    }

    [Theory]
    [BothServers]
    public async Task Cancel_job_clears_the_persisted_flag_of_a_running_background_job(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("cbg");
        var c = await s.ConnectAsync();
        string handle = await c.SubmitBackgroundAsync(fn, string.Empty, "x");
        Assert.Equal([$"{handle}\t0\t0\t1"], await s.AdminListAsync("show jobs"));
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        Assert.Equal("OK", await s.AdminLineAsync($"cancel job {handle}"));
        Assert.Equal([$"{handle}\t0\t1\t0"], await s.AdminListAsync("show jobs"));
        await worker.SendAsync(PacketType.WorkComplete, handle, "r");
        await worker.SyncAsync();
        Assert.Empty(await s.AdminListAsync("show jobs"));
    }

    [Theory]
    [BothServers]
    public async Task RESET_ABILITIES_and_CANT_DO_remove_registrations(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fa = TestNames.Unique("ra");
        string fb = TestNames.Unique("rb");
        var w = await s.WorkerAsync(fa, fb, fa);
        await w.SendAsync(PacketType.CantDo, fa);
        await w.SyncAsync();
        Assert.Equal(Sorted($"{fa}\t0\t0\t0", $"{fb}\t0\t0\t1"), Sorted([.. await s.AdminListAsync("status")]));
        await w.SendAsync(PacketType.CantDo, TestNames.Unique("never"));
        await w.SendAsync(PacketType.ResetAbilities);
        await w.SyncAsync();
        Assert.Equal(Sorted($"{fa}\t0\t0\t0", $"{fb}\t0\t0\t0"), Sorted([.. await s.AdminListAsync("status")]));

        // A worker without registrations is never woken.
        await w.SleepAsync();
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fa, string.Empty, "x");
        await w.SyncAsync();
        await w.ExpectNoJobAsync();
    }

    [Theory]
    [BothServers]
    public async Task SET_CLIENT_ID_keeps_up_to_127_bytes(ServerKind kind)
    {
        // §2.14.
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        string id = "id with spaces " + new string('x', 200);
        await c.SendAsync(PacketType.SetClientId, id);
        await c.SyncAsync();
        Assert.Contains(await s.AdminListAsync("workers"), l => l.EndsWith($" 127.0.0.1 {id[..127]} :", StringComparison.Ordinal));
    }

    [Theory]
    [BothServers]
    public async Task Epoch_jobs_coalesce_and_count_like_queued_jobs(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("ecoal");
        string unique = TestNames.Unique("E");
        var c = await s.ConnectAsync();
        long later = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600;
        string handle = await c.SubmitEpochAsync(fn, unique, later, "x");
        Assert.Equal(handle, await c.SubmitEpochAsync(fn, unique, later, "y"));
        Assert.Equal(handle, await c.SubmitBackgroundAsync(fn, unique, "z"));
        Assert.Equal([$"{handle}\t0\t0\t1"], await s.AdminListAsync("show jobs"));
        Assert.Equal([unique], await s.AdminListAsync("show unique jobs"));
        await c.AssertStatusAsync(handle, $"{handle}\01\00\00\00");
        Assert.Equal("OK", await s.AdminLineAsync($"maxqueue {fn} 1"));
        await c.SendAsync(PacketType.SubmitJobEpoch, fn, string.Empty, "0", "w");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
    }

    [Theory]
    [BothServers]
    public async Task Reduce_submit_with_only_three_fields_ends_the_connection(ServerKind kind)
    {
        // §1.1, §1.2 note, §7 probe 18: gearmand's parser runs into the next packet and disconnects; ours splits
        // within the declared size and closes because a field is missing.
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        // The PROTOCOL text's layout FUNC\0UNIQ\0REDUCER\0DATA: one NUL short of the real one.
        byte[] bytes = [.. RawGearmanConnection.Encode(PacketType.SubmitReduceJob, TestNames.Unique("m"), "u", "redf", "payload"), .. RawGearmanConnection.Encode(PacketType.EchoReq, "x")];
        await c.SendRawAsync(bytes, TestContext.Current.CancellationToken);
        Assert.True(await c.WaitForServerCloseAsync(), "the connection should close");
    }

    private static string[] Sorted(params string[] rows) => [.. rows.Order(StringComparer.Ordinal)];
}
