using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>WORK_FAIL and WORK_EXCEPTION delivery, and queue limits (spec §2.9, §2.13; §7 probes 13, 14).</summary>
public sealed class ResultConformanceTests
{
    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task WORK_EXCEPTION_reaches_exceptions_clients_as_is_and_others_as_WORK_FAIL(ServerKind kind)
    {
        // §2.9, §7 probe 13. Known intentional difference: gearmand sends the plain client `WORK_FAIL H\0` (a trailing
        // NUL that 1.1.20 clients cannot match); ours sends the bare handle, as the spec recommends.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("exc");
        string unique = TestNames.Unique("E");
        var plain = await s.ConnectAsync();
        var aware = await s.ConnectAsync();
        await aware.SendAsync(PacketType.OptionReq, "exceptions");
        await aware.ExpectAsync(PacketType.OptionRes, "exceptions");
        string handle = await plain.SubmitAsync(fn, unique, "x");
        Assert.Equal(handle, await aware.SubmitAsync(fn, unique, "x"));

        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await worker.SendAsync(PacketType.WorkException, handle, "bo\0om");
        await aware.ExpectAsync(PacketType.WorkException, $"{handle}\0bo\0om");
        await plain.ExpectAsync(PacketType.WorkFail, s.IsGearmand ? handle + "\0" : handle);
        await worker.SyncAsync();
        Assert.Empty(await s.AdminListAsync("show jobs"));
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Exceptions_switch_enables_exceptions_on_every_connection(ServerKind kind)
    {
        // §2.9: --exceptions.
        await using var s = await ConformanceSession.StartAsync(kind, new ServerStartOptions { Exceptions = true });
        string fn = TestNames.Unique("excall");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await worker.SendAsync(PacketType.WorkException, handle, "boom");
        await client.ExpectAsync(PacketType.WorkException, $"{handle}\0boom");
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task WORK_FAIL_is_forwarded_to_every_client(ServerKind kind)
    {
        // §2.9. Known intentional difference: gearmand forwards a worker's `H\0` as received; ours always sends the
        // bare handle (1.1.20 clients hang on the trailing NUL, §2.9).
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("fail");
        var client = await s.ConnectAsync();
        string h1 = await client.SubmitAsync(fn, string.Empty, "1");
        string h2 = await client.SubmitAsync(fn, string.Empty, "2");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(h1, fn, "1");
        await worker.GrabExpectAsync(h2, fn, "2");
        await worker.SendAsync(PacketType.WorkFail, h1);
        await client.ExpectAsync(PacketType.WorkFail, h1);
        await worker.SendAsync(PacketType.WorkFail, h2 + "\0");
        await client.ExpectAsync(PacketType.WorkFail, s.IsGearmand ? h2 + "\0" : h2);
        await worker.SyncAsync();
        Assert.Empty(await s.AdminListAsync("show jobs"));
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Maxqueue_limits_new_jobs_but_not_coalescing_submits(ServerKind kind)
    {
        // §2.13, §7 probe 14: job_total (queued + running, all priorities) ≥ limit → QUEUE_ERROR.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("mq");
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, string.Empty, "create the function");
        Assert.Equal("OK", await s.AdminLineAsync($"maxqueue {fn} 2"));
        string unique = TestNames.Unique("Q");
        string handle = await c.SubmitAsync(fn, unique, "second");
        await c.SendAsync(PacketType.SubmitJob, fn, string.Empty, "third");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
        await c.SendAsync(PacketType.SubmitJobHighBg, fn, string.Empty, "third");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");

        // Coalescing bypasses the limit.
        Assert.Equal(handle, await c.SubmitAsync(PacketType.SubmitJobLow, fn, unique, "again"));

        // Running jobs still count.
        var worker = await s.WorkerAsync(fn);
        await worker.GrabAsync();
        await c.SendAsync(PacketType.SubmitJobBg, fn, string.Empty, "fourth");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");

        // `maxqueue F` resets to unlimited.
        Assert.Equal("OK", await s.AdminLineAsync($"maxqueue {fn}"));
        await c.SubmitBackgroundAsync(fn, string.Empty, "fifth");
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Maxqueue_with_two_values_sets_high_and_normal_and_clears_low(ServerKind kind)
    {
        // §3: `maxqueue F H N` → high = H, normal = N, low = 0 (unlimited).
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("mq2");
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, string.Empty, "1");
        Assert.Equal("OK", await s.AdminLineAsync($"maxqueue {fn} 2 1"));
        await c.SendAsync(PacketType.SubmitJobBg, fn, string.Empty, "n");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
        await c.SubmitAsync(PacketType.SubmitJobHighBg, fn, string.Empty, "h");
        await c.SubmitAsync(PacketType.SubmitJobLowBg, fn, string.Empty, "l1");
        await c.SubmitAsync(PacketType.SubmitJobLowBg, fn, string.Empty, "l2");
        await c.SendAsync(PacketType.SubmitJobHighBg, fn, string.Empty, "h2");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
        Assert.Equal([$"{fn}\t1\t1\t2\t0"], (await s.AdminListAsync("prioritystatus")).Where(l => l.StartsWith(fn + "\t", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Maxqueue_with_three_values_sets_each_priority(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("mq3");
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, string.Empty, "1");
        Assert.Equal("OK", await s.AdminLineAsync($"maxqueue {fn} 0 1 2"));
        await c.SendAsync(PacketType.SubmitJobBg, fn, string.Empty, "n");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
        await c.SubmitAsync(PacketType.SubmitJobLowBg, fn, string.Empty, "l");
        await c.SendAsync(PacketType.SubmitJobLowBg, fn, string.Empty, "l2");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
        await c.SubmitAsync(PacketType.SubmitJobHighBg, fn, string.Empty, "h");
        await c.SubmitAsync(PacketType.SubmitJobHighBg, fn, string.Empty, "h2");
    }

    [Theory]
    [InlineData(ServerKind.Gearmand, "-3 1 2")]
    [InlineData(ServerKind.Ours, "-3 1 2")]
    [InlineData(ServerKind.Gearmand, "abc")]
    [InlineData(ServerKind.Ours, "abc")]
    [InlineData(ServerKind.Gearmand, "-5")]
    [InlineData(ServerKind.Ours, "-5")]
    [InlineData(ServerKind.Gearmand, "1e20")]
    [InlineData(ServerKind.Ours, "1e20")]
    [InlineData(ServerKind.Gearmand, "1.5")]
    [InlineData(ServerKind.Ours, "1.5")]
    [InlineData(ServerKind.Gearmand, "99999999999")]
    [InlineData(ServerKind.Ours, "99999999999")]
    [InlineData(ServerKind.Ours, "1 2 x")]
    public async Task Maxqueue_with_garbage_values_is_OK_in_gearmand_and_ERR_here(ServerKind kind, string values)
    {
        // A deliberate departure (docs/server.md): gearmand reads the values with atoi and answers OK to anything; we
        // refuse what is not a whole number from 0 to 2147483647, and change nothing.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("mqg");
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, string.Empty, "1");
        Assert.Equal("OK", await s.AdminLineAsync($"maxqueue {fn} 1"));
        string reply = await s.AdminLineAsync($"maxqueue {fn} {values}");
        if (s.IsGearmand)
        {
            Assert.Equal("OK", reply);
            return;
        }

        Assert.Equal("ERR INVALID_ARGUMENTS maxqueue+limits+must+be+whole+numbers+from+0+to+2147483647", reply);
        await c.SendAsync(PacketType.SubmitJobBg, fn, string.Empty, "2");
        await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Maxqueue_for_an_unknown_function_is_ignored_by_gearmand_and_takes_effect_here(ServerKind kind)
    {
        // A deliberate departure (docs/server.md): gearmand answers OK and changes nothing; we create the function, as
        // `create function` would, so the limit holds for its first submits.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("mqx");
        Assert.Equal("OK", await s.AdminLineAsync($"maxqueue {fn} 1"));
        var status = await (await s.AdminAsync()).StatusOfAsync(fn);
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, string.Empty, "1");
        if (s.IsGearmand)
        {
            Assert.Null(status);
            await c.SubmitBackgroundAsync(fn, string.Empty, "2");
        }
        else
        {
            Assert.NotNull(status);
            await c.SendAsync(PacketType.SubmitJobBg, fn, string.Empty, "2");
            await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
        }

        // The name is case-sensitive.
        Assert.Equal("OK", await s.AdminLineAsync($"maxqueue {fn.ToUpperInvariant()} 5"));
        if (s.IsGearmand)
        {
            await c.SubmitBackgroundAsync(fn, string.Empty, "3");
        }
        else
        {
            await c.SendAsync(PacketType.SubmitJobBg, fn, string.Empty, "3");
            await c.ExpectErrorAsync("QUEUE_ERROR", "Job queue is full");
        }

        Assert.Equal("ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue", await s.AdminLineAsync("maxqueue"));
    }
}
