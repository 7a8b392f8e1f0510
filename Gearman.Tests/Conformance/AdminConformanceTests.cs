using System.Text.RegularExpressions;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>The admin text protocol (spec §3, §2.14 cancel; §7 probes 15, 25).</summary>
public sealed partial class AdminConformanceTests
{
    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Status_and_prioritystatus_count_queued_running_and_workers(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("st");
        string idle = TestNames.Unique("idle");
        var c = await s.ConnectAsync();
        await c.SubmitAsync(PacketType.SubmitJobHighBg, fn, string.Empty, "h");
        await c.SubmitAsync(PacketType.SubmitJobBg, fn, string.Empty, "n");
        await c.SubmitAsync(PacketType.SubmitJobLow, fn, string.Empty, "l1");
        await c.SubmitAsync(PacketType.SubmitJobLowBg, fn, string.Empty, "l2");
        var worker = await s.WorkerAsync(fn, fn);
        await worker.GrabAsync();
        await s.WorkerAsync(idle);

        var status = await s.AdminListAsync("status");
        Assert.Equal(Sorted($"{fn}\t4\t1\t2", $"{idle}\t0\t0\t1"), Sorted([.. status]));
        var priority = await s.AdminListAsync("prioritystatus");
        Assert.Equal(Sorted($"{fn}\t0\t1\t2\t2", $"{idle}\t0\t0\t0\t1"), Sorted([.. priority]));

        // Command words are case-insensitive; extra tokens are ignored; CRLF line ends are accepted.
        Assert.Equal(status.Order(StringComparer.Ordinal), (await s.AdminListAsync("STATUS extra tokens\r")).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Workers_lists_every_connection_with_its_id_and_registrations(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fa = TestNames.Unique("fa");
        string fb = TestNames.Unique("fb");
        string id = TestNames.Unique("my-worker id");
        var worker = await s.ConnectAsync();
        await worker.SendAsync(PacketType.SetClientId, id);
        await worker.SendAsync(PacketType.CanDo, fa);
        await worker.SendAsync(PacketType.CanDo, fb);
        await worker.SendAsync(PacketType.CanDo, fa);
        await worker.SyncAsync();
        var plain = await s.ConnectAsync();
        await plain.SyncAsync();

        var lines = await s.AdminListAsync("workers");

        // Every live connection (the admin one included): `FD IP ID :` then the registrations, newest first.
        Assert.Equal(3, lines.Count);
        Assert.All(lines, l => Assert.Matches(WorkerLine(), l));
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^\d+ 127\.0\.0\.1 {Regex.Escape(id)} : {fa} {fb} {fa}$"));
        Assert.Equal(2, lines.Count(l => l.EndsWith(" 127.0.0.1 - :", StringComparison.Ordinal)));
    }

    /// <summary>Rows in ordinal order: admin lists come in hash order, which clients must not depend on (spec §3).</summary>
    private static string[] Sorted(params string[] rows) => [.. rows.Order(StringComparer.Ordinal)];

    [GeneratedRegex(@"^\d+ 127\.0\.0\.1 .+ :( .*)?$")]
    private static partial Regex WorkerLine();

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Show_jobs_and_show_unique_jobs(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("show");
        var c = await s.ConnectAsync();
        string h1 = await c.SubmitBackgroundAsync(fn, "uniq-1", "a");
        string h2 = await c.SubmitAsync(fn, string.Empty, "b");
        string h3 = await c.SubmitAsync(fn, "-", "c");

        // PERSISTED is set for background jobs even without a persistent queue (builtin).
        Assert.Equal([$"{h1}\t0\t0\t1", $"{h2}\t0\t0\t0", $"{h3}\t0\t0\t0"], (await s.AdminListAsync("show jobs")).Order(StringComparer.Ordinal));
        Assert.Equal(["", "-", "uniq-1"], (await s.AdminListAsync("show unique jobs")).Order(StringComparer.Ordinal));
        Assert.Equal("ERR UNKNOWN_SHOW_ARGUMENTS", await s.AdminLineAsync("show foo"));
        Assert.Equal("ERR UNKNOWN_SHOW_ARGUMENTS", await s.AdminLineAsync("show unique"));
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Cancel_job_on_a_queued_job_fails_it_at_once(ServerKind kind)
    {
        // §2.14, §7 probe 25. Known difference: gearmand marks the job ignored and purges it when a worker reaches it
        // (so status, show jobs and a second cancel still see it); ours removes it at once.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("cq");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, TestNames.Unique("u"), "x");
        Assert.Equal("OK", await s.AdminLineAsync($"cancel job {handle}"));
        await client.ExpectAsync(PacketType.WorkFail, handle);

        if (s.IsGearmand)
        {
            Assert.Equal([$"{handle}\t0\t1\t0"], await s.AdminListAsync("show jobs"));
            Assert.Equal($"{fn}\t1\t0\t0", await (await s.AdminAsync()).StatusOfAsync(fn));
            Assert.Equal("OK", await s.AdminLineAsync($"cancel job {handle}"));
            await client.ExpectAsync(PacketType.WorkFail, handle);
        }
        else
        {
            Assert.Empty(await s.AdminListAsync("show jobs"));
            Assert.Equal($"{fn}\t0\t0\t0", await (await s.AdminAsync()).StatusOfAsync(fn));
            Assert.Equal("ERR UNKNOWN_JOB", await s.AdminLineAsync($"cancel job {handle}"));
        }

        var worker = await s.WorkerAsync(fn);
        await worker.ExpectNoJobAsync();
        Assert.Equal($"{fn}\t0\t0\t1", await (await s.AdminAsync()).StatusOfAsync(fn));
        await client.SyncAsync();
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Cancel_job_on_a_running_job_fails_it_but_the_worker_finishes(ServerKind kind)
    {
        // §2.14: the running job is not stopped; its clients also get the later WORK_COMPLETE.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("cr");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        Assert.Equal("OK", await s.AdminLineAsync($"cancel job {handle}"));
        await client.ExpectAsync(PacketType.WorkFail, handle);
        Assert.Equal([$"{handle}\t0\t1\t0"], await s.AdminListAsync("show jobs"));

        // A second cancel before the job ends: OK and a second WORK_FAIL.
        Assert.Equal("OK", await s.AdminLineAsync($"cancel job {handle}"));
        await client.ExpectAsync(PacketType.WorkFail, handle);

        await worker.SendAsync(PacketType.WorkComplete, handle, "done");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0done");
        Assert.Empty(await s.AdminListAsync("show jobs"));
        Assert.Equal("ERR UNKNOWN_JOB", await s.AdminLineAsync($"cancel job {handle}"));
        Assert.Equal("ERR UNKNOWN_JOB", await s.AdminLineAsync("cancel job H:nope:1"));
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Create_function_adds_an_empty_function(ServerKind kind)
    {
        // §3 BUG [1.1.20]: without CRLF the name loses its last character; ours keeps it.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("newg");
        string crlf = TestNames.Unique("crlf");
        Assert.Equal("OK", await s.AdminLineAsync($"create function {fn}"));
        Assert.Equal("OK", await s.AdminLineAsync($"create function {crlf}\r"));
        var status = await s.AdminListAsync("status");
        Assert.Contains($"{(s.IsGearmand ? fn[..^1] : fn)}\t0\t0\t0", status);
        Assert.Contains($"{crlf}\t0\t0\t0", status);
        Assert.Equal(2, status.Count);
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Drop_function_refuses_while_workers_or_running_jobs_exist(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("drop");
        Assert.Equal("ERR function not found", await s.AdminLineAsync($"drop function {fn}"));
        var worker = await s.WorkerAsync(fn);
        Assert.Equal("ERR there are still connected workers or executing clients", await s.AdminLineAsync($"drop function {fn}"));
        await s.CloseAsync(worker);

        // The name matches case-insensitively.
        Assert.Equal("OK", await s.AdminLineAsync($"drop function {fn.ToUpperInvariant()}"));
        Assert.Null(await (await s.AdminAsync()).StatusOfAsync(fn));
        Assert.Equal("ERR function not found", await s.AdminLineAsync($"drop function {fn}"));
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Drop_function_with_queued_jobs(ServerKind kind)
    {
        // §3: gearmand drops the function and its queued jobs; known difference: ours refuses (never loses accepted work).
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("dropq");
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, string.Empty, "x");
        if (s.IsGearmand)
        {
            Assert.Equal("OK", await s.AdminLineAsync($"drop function {fn}"));
            Assert.Null(await (await s.AdminAsync()).StatusOfAsync(fn));
        }
        else
        {
            Assert.Equal("ERR there are still queued jobs", await s.AdminLineAsync($"drop function {fn}"));
            Assert.Equal($"{fn}\t1\t0\t0", await (await s.AdminAsync()).StatusOfAsync(fn));
        }
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Version_getpid_and_verbose_end_with_a_bare_LF(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var admin = await s.AdminAsync();
        await admin.SendAdminAsync("version");
        string version = await admin.ReadLineAsync(keepCr: true);
        Assert.Matches(s.IsGearmand ? @"^OK 1\.1\.20\+ds$" : @"^OK 1\.1\.20\+gearman\.net\.\d+\.\d+\.\d+$", version);
        await admin.SendAdminAsync("getpid");
        Assert.Equal($"OK {s.Server.ProcessId}", await admin.ReadLineAsync(keepCr: true));
        await admin.SendAdminAsync("verbose");
        Assert.Matches("^OK (FATAL|ALERT|CRITICAL|ERROR|WARNING|NOTICE|INFO|DEBUG)$", await admin.ReadLineAsync(keepCr: true));
        await admin.SendAdminAsync("maxqueue");
        Assert.EndsWith("\r", await admin.ReadLineAsync(keepCr: true), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Unknown_and_incomplete_commands_get_exact_errors(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var admin = await s.AdminAsync();
        (string Line, string Reply)[] cases =
        [
            ("foo", "ERR UNKNOWN_COMMAND Unknown+server+commandfoo"),
            (string.Empty, "ERR UNKNOWN_COMMAND Unknown+server+command"),
            ("   ", "ERR UNKNOWN_COMMAND Unknown+server+command"),
            ("shutdown", "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown"),
            ("shutdown graceful", "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown"),
            ("show", "ERR UNKNOWN_COMMAND Unknown+server+commandshow"),
            ("cancel", "ERR UNKNOWN_COMMAND Unknown+server+commandcancel"),
            ("cancel job", "ERR UNKNOWN_COMMAND Unknown+server+commandcancel"),
            ("cancel x y", "ERR UNKNOWN_ERROR"),
            ("create", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create"),
            ("create function", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create"),
            ("drop", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+drop"),
            ("drop function", "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+drop"),
        ];
        foreach (var (line, reply) in cases)
        {
            await admin.SendAdminAsync(line);
            string actual = await admin.ReadLineAsync(keepCr: true);
            Assert.True(reply + "\r" == actual, $"'{line}': expected '{reply}\\r', got '{actual}'");
        }

        await admin.SyncAsync();
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Token_splitting_case_and_extra_tokens(ServerKind kind)
    {
        // §3 parsing: tokens are separated by runs of spaces only (a tab is part of a token, a leading space makes an
        // empty first token), command words and sub-words are case-insensitive, extra tokens are ignored by the
        // list commands and refused by the others.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("tok");
        var admin = await s.AdminAsync();
        Assert.Equal("OK", await admin.AdminAsync($"create  function  {fn}\r"));
        (string Line, string[] Reply)[] cases =
        [
            ("status\t", ["ERR UNKNOWN_COMMAND Unknown+server+commandstatus\t\r"]),
            ("\tstatus", ["ERR UNKNOWN_COMMAND Unknown+server+command\tstatus\r"]),
            (" status", ["ERR UNKNOWN_COMMAND Unknown+server+command\r"]),
            ("   x", ["ERR UNKNOWN_COMMAND Unknown+server+command\r"]),
            (" a b c d", ["ERR UNKNOWN_COMMAND Unknown+server+command\r"]),
            ("a b c d ", ["ERR UNKNOWN_COMMAND Unknown+server+commanda\r"]),
            ("SHOW JOBS", ["."]),
            ("show  jobs", ["."]),
            ("Show Unique Jobs", ["."]),
            ("show jobs ", ["ERR UNKNOWN_SHOW_ARGUMENTS\r"]),
            ("show jobs extra", ["ERR UNKNOWN_SHOW_ARGUMENTS\r"]),
            ("show unique jobs extra", ["ERR UNKNOWN_SHOW_ARGUMENTS\r"]),
            ("cancel job nope extra", ["ERR UNKNOWN_ERROR\r"]),
            ("cancel job   ", ["ERR UNKNOWN_JOB\r"]),
            ("CANCEL JOB nope", ["ERR UNKNOWN_JOB\r"]),
            ("create function a b", ["ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r"]),
            ("drop function a b", ["ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+drop\r"]),
            ($"maxqueue {fn} 1 2 3", ["OK\r"]),
            // A deliberate departure: gearmand's atoi takes anything (docs/server.md).
            ($"maxqueue {fn} x", [s.IsGearmand ? "OK\r" : "ERR INVALID_ARGUMENTS maxqueue+limits+must+be+whole+numbers+from+0+to+2147483647\r"]),
            ("status  ", [$"{fn}\t0\t0\t0", "."]),
            ("prioritystatus x", [$"{fn}\t0\t0\t0\t0", "."]),
            ($"DROP FUNCTION {fn.ToUpperInvariant()}", ["OK\r"]),
            ("status", ["."]),
        ];
        foreach (var (line, reply) in cases)
        {
            await admin.SendAdminAsync(line);
            var actual = new List<string>();
            foreach (var _ in reply) actual.Add(await admin.ReadLineAsync(keepCr: true));
            Assert.True(reply.SequenceEqual(actual), $"'{line}': expected [{string.Join(", ", reply)}], got [{string.Join(", ", actual)}]");
        }

        await admin.SendAdminAsync("getpid extra");
        Assert.Equal($"OK {s.Server.ProcessId}", await admin.ReadLineAsync(keepCr: true));
        await admin.SendAdminAsync("version extra");
        Assert.StartsWith("OK 1.1.20+", await admin.ReadLineAsync(keepCr: true), StringComparison.Ordinal);
        await admin.SyncAsync();
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Six_tokens_close_the_connection_and_five_do_not(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var five = await s.ConnectAsync();
        Assert.Equal("ERR UNKNOWN_COMMAND Unknown+server+commanda", await five.AdminAsync("a b c d e"));
        foreach (string line in new[] { "a b c d e f", " a b c d e", "a b c d e ", " a b c d " })
        {
            var six = await s.ConnectAsync();
            await six.SendAdminAsync(line);
            Assert.True(await six.WaitForServerCloseAsync(), $"'{line}' has six tokens and should close the connection without a reply");
        }
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Pipelined_commands_are_answered_in_order(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var admin = await s.AdminAsync();
        await admin.SendAdminAsync("status\nfoo\nshow jobs\ncancel job nope\n");
        Assert.Empty(await admin.ReadListAsync());
        Assert.Equal("ERR UNKNOWN_COMMAND Unknown+server+commandfoo", await admin.ReadLineAsync());
        Assert.Empty(await admin.ReadListAsync());
        Assert.Equal("ERR UNKNOWN_JOB", await admin.ReadLineAsync());
    }
}
