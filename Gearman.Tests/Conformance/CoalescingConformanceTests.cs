using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>Unique IDs and coalescing (protocol.md §2.3 step 3, §2.4; §7 probe 8).</summary>
[Trait("Category", "Conformance")]
public sealed class CoalescingConformanceTests
{
    [Theory]
    [BothServers]
    public async Task Foreground_foreground_background_and_high_share_one_job(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("co");
        string unique = TestNames.Unique("U1");
        var fg1 = await s.ConnectAsync();
        var fg2 = await s.ConnectAsync();
        var bg = await s.ConnectAsync();
        var high = await s.ConnectAsync();

        string handle = await fg1.SubmitAsync(fn, unique, "first");
        Assert.Equal(handle, await fg2.SubmitAsync(fn, unique, "second"));
        Assert.Equal(handle, await bg.SubmitBackgroundAsync(fn, unique, "third"));
        Assert.Equal(handle, await high.SubmitAsync(PacketType.SubmitJobHigh, fn, unique, "fourth"));

        // A different function is a different job, and coalesced submits used no handle numbers (§2.2).
        string other = await bg.SubmitBackgroundAsync(TestNames.Unique("co2"), unique, "x");
        Assert.Equal(s.Handle(2), other);

        // One job, with the first submit's data and priority.
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "first");
        await worker.ExpectNoJobAsync();
        await worker.SendAsync(PacketType.WorkComplete, handle, "done");
        foreach (var client in new[] { fg1, fg2, high }) await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0done");
        await bg.SyncAsync();
    }

    [Theory]
    [BothServers]
    public async Task Coalescing_is_per_function(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        string unique = TestNames.Unique("U");
        string a = await c.SubmitBackgroundAsync(TestNames.Unique("fa"), unique, "x");
        string b = await c.SubmitBackgroundAsync(TestNames.Unique("fb"), unique, "x");
        Assert.NotEqual(a, b);
    }

    [Theory]
    [BothServers]
    public async Task Dash_unique_coalesces_on_equal_nonempty_data(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("dash");
        var c = await s.ConnectAsync();
        string a = await c.SubmitBackgroundAsync(fn, "-", "same");
        Assert.Equal(a, await c.SubmitBackgroundAsync(fn, "-", "same"));
        string b = await c.SubmitBackgroundAsync(fn, "-", "other");
        Assert.NotEqual(a, b);
        string e1 = await c.SubmitBackgroundAsync(fn, "-", string.Empty);
        string e2 = await c.SubmitBackgroundAsync(fn, "-", string.Empty);
        Assert.NotEqual(e1, e2);

        // A job with unique "same" is not the data-keyed one.
        Assert.NotEqual(a, await c.SubmitBackgroundAsync(fn, "same", "same"));

        // The jobs keep the literal unique "-".
        var worker = await s.WorkerAsync(fn);
        var assign = await worker.GrabAsync(PacketType.GrabJobUniq);
        Assert.Equal($"JOB_ASSIGN_UNIQ {a}\\0{fn}\\0-\\0same", RawConnectionExtensions.Describe(assign));
    }

    [Theory]
    [BothServers]
    public async Task Empty_unique_never_coalesces(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("empty");
        var c = await s.ConnectAsync();
        string a = await c.SubmitAsync(fn, string.Empty, "same");
        string b = await c.SubmitAsync(fn, string.Empty, "same");
        string d = await c.SubmitBackgroundAsync(fn, string.Empty, "same");
        Assert.Equal([s.Handle(1), s.Handle(2), s.Handle(3)], new[] { a, b, d });

        // An empty unique is an empty field (§2.8).
        var worker = await s.WorkerAsync(fn);
        var assign = await worker.GrabAsync(PacketType.GrabJobUniq);
        Assert.Equal($"JOB_ASSIGN_UNIQ {a}\\0{fn}\\0\\0same", RawConnectionExtensions.Describe(assign));
    }

    [Theory]
    [BothServers]
    public async Task A_late_joiner_gets_only_later_packets(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("late");
        string unique = TestNames.Unique("L");
        var early = await s.ConnectAsync();
        var late = await s.ConnectAsync();
        string handle = await early.SubmitAsync(fn, unique, "x");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await worker.SendAsync(PacketType.WorkData, handle, "one");
        await early.ExpectAsync(PacketType.WorkData, $"{handle}\0one");

        // Joins while running, whatever the new priority.
        Assert.Equal(handle, await late.SubmitAsync(PacketType.SubmitJobLow, fn, unique, "y"));
        await worker.SendAsync(PacketType.WorkData, handle, "two");
        await worker.SendAsync(PacketType.WorkComplete, handle, "end");
        await early.ExpectAsync(PacketType.WorkData, $"{handle}\0two");
        await early.ExpectAsync(PacketType.WorkComplete, $"{handle}\0end");
        await late.ExpectAsync(PacketType.WorkData, $"{handle}\0two");
        await late.ExpectAsync(PacketType.WorkComplete, $"{handle}\0end");
    }

    [Theory]
    [BothServers]
    public async Task A_foreground_submit_joins_a_background_job_and_gets_its_results(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("fgbg");
        string unique = TestNames.Unique("B");
        var bg = await s.ConnectAsync();
        var fg = await s.ConnectAsync();
        string handle = await bg.SubmitBackgroundAsync(fn, unique, "x");
        Assert.Equal(handle, await fg.SubmitAsync(fn, unique, "y"));
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await worker.SendAsync(PacketType.WorkComplete, handle, "r");
        await fg.ExpectAsync(PacketType.WorkComplete, $"{handle}\0r");
        await bg.SyncAsync();
    }

    [Theory]
    [BothServers]
    public async Task A_finished_job_frees_its_unique(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("reuse");
        string unique = TestNames.Unique("R");
        var c = await s.ConnectAsync();
        string first = await c.SubmitBackgroundAsync(fn, unique, "x");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(first, fn, "x");
        await worker.SendAsync(PacketType.WorkComplete, first, string.Empty);
        await worker.SyncAsync();
        string second = await c.SubmitBackgroundAsync(fn, unique, "y");
        Assert.Equal(s.Handle(2), second);
    }
}
