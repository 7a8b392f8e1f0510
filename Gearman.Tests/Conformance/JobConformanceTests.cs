using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>Submitting, running and querying jobs (protocol.md §2.2, §2.3, §2.9, §2.10; §7 probes 1, 5, 6, 7).</summary>
[Trait("Category", "Conformance")]
public sealed class JobConformanceTests
{
    [Theory]
    [BothServers]
    public async Task Round_trip_forwards_every_work_packet_byte_for_byte(ServerKind kind)
    {
        // §7 probe 1.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("rev");
        var worker = await s.WorkerAsync(fn);
        await worker.ExpectNoJobAsync();
        await worker.SleepAsync();

        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "test");
        Assert.Equal(s.Handle(1), handle);
        await worker.ExpectNoopAsync();
        await worker.GrabExpectAsync(handle, fn, "test");

        await worker.SendAsync(PacketType.WorkStatus, handle, "1", "2");
        await worker.SendAsync(PacketType.WorkData, handle, "d\0ta");
        await worker.SendAsync(PacketType.WorkWarning, handle, "w\0rn");
        await worker.SendAsync(PacketType.WorkComplete, handle, "t\0set");
        await client.ExpectAsync(PacketType.WorkStatus, $"{handle}\01\02");
        await client.ExpectAsync(PacketType.WorkData, $"{handle}\0d\0ta");
        await client.ExpectAsync(PacketType.WorkWarning, $"{handle}\0w\0rn");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0t\0set");
        await worker.SyncAsync();
        await client.SyncAsync();

        // Completed jobs are unknown (§2.10) and the function record stays (§2.1).
        await client.AssertStatusAsync(handle, $"{handle}\00\00\00\00");
        Assert.Equal($"{fn}\t0\t0\t1", await (await s.AdminAsync()).StatusOfAsync(fn));
    }

    [Theory]
    [BothServers]
    public async Task Handles_count_from_one_and_use_the_prefix(ServerKind kind)
    {
        // §2.2: --job-handle-prefix P gives P:n; coalesced submits consume no number.
        await using var s = await ConformanceSession.StartAsync(kind, new ServerStartOptions { HandlePrefix = "pfx" });
        var c = await s.ConnectAsync();
        string fn = TestNames.Unique("h");
        Assert.Equal("pfx:1", await c.SubmitBackgroundAsync(fn, "u1", "a"));
        Assert.Equal("pfx:1", await c.SubmitBackgroundAsync(fn, "u1", "b"));
        Assert.Equal("pfx:2", await c.SubmitBackgroundAsync(fn, "u2", "a"));
    }

    [Theory]
    [BothServers]
    public async Task Default_handle_prefix_is_H_and_the_node_name(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        Assert.Equal($"H:{ConformanceSession.NodeName}:1", await c.SubmitBackgroundAsync(TestNames.Unique("h"), string.Empty, "a"));
    }

    [Theory]
    [BothServers]
    public async Task The_empty_function_name_is_a_function(ServerKind kind)
    {
        // §2.1: "" is valid.
        await using var s = await ConformanceSession.StartAsync(kind);
        var worker = await s.WorkerAsync(string.Empty);
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(string.Empty, string.Empty, "x");
        await worker.GrabExpectAsync(handle, string.Empty, "x");
        Assert.Contains("\t1\t1\t1", await s.AdminListAsync("status"));
    }

    [Theory]
    [BothServers]
    public async Task Large_binary_payloads_pass_through_unchanged(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("big");
        var data = new byte[1 << 20];
        new Random(42).NextBytes(data);
        var client = await s.ConnectAsync();
        await client.SendAsync(PacketMagic.Request, PacketType.SubmitJob, System.Text.Encoding.UTF8.GetBytes(fn), [], data);
        string handle = await client.ExpectJobCreatedAsync();
        var worker = await s.WorkerAsync(fn);
        await worker.SendAsync(PacketType.GrabJob);
        var assign = await worker.ExpectPacketAsync(PacketType.JobAssign);
        Assert.Equal(data, assign.Fields()[2]);

        var handleBytes = System.Text.Encoding.UTF8.GetBytes(handle);
        await worker.SendAsync(PacketMagic.Request, PacketType.WorkData, handleBytes, data);
        await worker.SendAsync(PacketMagic.Request, PacketType.WorkComplete, handleBytes, data.AsSpan(0, 70000).ToArray());
        Assert.Equal(data, (await client.ExpectPacketAsync(PacketType.WorkData)).Fields()[1]);
        Assert.Equal(data.AsSpan(0, 70000).ToArray(), (await client.ExpectPacketAsync(PacketType.WorkComplete)).Fields()[1]);
    }

    [Theory]
    [BothServers]
    public async Task Function_names_have_no_server_side_length_limit(ServerKind kind)
    {
        // Only libgearman limits names (512 bytes, §5.1); the server takes what the packet holds.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("long") + new string('f', 600);
        var worker = await s.WorkerAsync(fn);
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        await worker.GrabExpectAsync(handle, fn, "x");
    }

    [Theory]
    [BothServers]
    public async Task Work_results_for_unknown_handles_get_the_three_JOB_NOT_FOUND_texts(ServerKind kind)
    {
        // §1.3, §7 probe 5.
        await using var s = await ConformanceSession.StartAsync(kind);
        var w = await s.ConnectAsync();
        const string Result = "Job given in work result not found";
        const string Missing = "Job does not exist on server";
        const string Exception = "An exception was received for a job that does not exist";

        await w.SendAsync(PacketType.WorkComplete, "H:nope:1", "r");
        await w.ExpectErrorAsync("JOB_NOT_FOUND", Result);
        await w.SendAsync(PacketType.WorkStatus, "H:nope:1", "1", "2");
        await w.ExpectErrorAsync("JOB_NOT_FOUND", Result);
        await w.SendAsync(PacketType.WorkFail, "H:nope:1");
        await w.ExpectErrorAsync("JOB_NOT_FOUND", Result);
        await w.SendAsync(PacketType.WorkData, "H:nope:1", "d");
        await w.ExpectErrorAsync("JOB_NOT_FOUND", Missing);
        await w.SendAsync(PacketType.WorkWarning, "H:nope:1", "d");
        await w.ExpectErrorAsync("JOB_NOT_FOUND", Missing);
        await w.SendAsync(PacketType.WorkException, "H:nope:1", "d");
        await w.ExpectErrorAsync("JOB_NOT_FOUND", Exception);
        await w.SyncAsync();
    }

    [Theory]
    [BothServers]
    public async Task Work_results_for_a_queued_job_or_another_workers_job_get_JOB_NOT_FOUND(ServerKind kind)
    {
        // §2.9: the worker must currently own the handle.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("own");
        var client = await s.ConnectAsync();
        string running = await client.SubmitAsync(fn, string.Empty, "a");
        string queued = await client.SubmitAsync(fn, string.Empty, "b");
        var owner = await s.WorkerAsync(fn);
        await owner.GrabExpectAsync(running, fn, "a");

        var other = await s.WorkerAsync(fn);
        await other.SendAsync(PacketType.WorkComplete, running, "x");
        await other.ExpectErrorAsync("JOB_NOT_FOUND", "Job given in work result not found");
        await other.SendAsync(PacketType.WorkData, running, "x");
        await other.ExpectErrorAsync("JOB_NOT_FOUND", "Job does not exist on server");
        await owner.SendAsync(PacketType.WorkComplete, queued, "x");
        await owner.ExpectErrorAsync("JOB_NOT_FOUND", "Job given in work result not found");

        // Nothing reached the client, and the real owner still completes the job.
        await client.SyncAsync();
        await owner.SendAsync(PacketType.WorkComplete, running, "ok");
        await client.ExpectAsync(PacketType.WorkComplete, $"{running}\0ok");
    }

    [Theory]
    [BothServers]
    public async Task GET_STATUS_reports_queued_running_progress_and_unknown(ServerKind kind)
    {
        // §2.10, §2.9 (atoi of WORK_STATUS values), §7 probe 6.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("st");
        var client = await s.ConnectAsync();
        var asker = await s.ConnectAsync();

        await asker.AssertStatusAsync("H:nope:1", "H:nope:1\00\00\00\00");

        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        await asker.AssertStatusAsync(handle, $"{handle}\01\00\00\00");

        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await asker.AssertStatusAsync(handle, $"{handle}\01\01\00\00");

        await worker.SendAsync(PacketType.WorkStatus, handle, "3", "7");
        await client.ExpectAsync(PacketType.WorkStatus, $"{handle}\03\07");
        await asker.AssertStatusAsync(handle, $"{handle}\01\01\03\07");

        // Forwarded unchanged, stored as atoi: abc → 0, 7x → 7.
        await worker.SendAsync(PacketType.WorkStatus, handle, "abc", "7x");
        await client.ExpectAsync(PacketType.WorkStatus, $"{handle}\0abc\07x");
        await asker.AssertStatusAsync(handle, $"{handle}\01\01\00\07");

        // Only the bytes up to the first NUL name the job.
        await asker.AssertStatusAsync(handle + "\0junk", $"{handle}\01\01\00\07");

        await worker.SendAsync(PacketType.WorkFail, handle);
        await client.ExpectAsync(PacketType.WorkFail, handle);
        await asker.AssertStatusAsync(handle, $"{handle}\00\00\00\00");
    }

    [Theory]
    [BothServers]
    public async Task GET_STATUS_UNIQUE_reports_clients_and_progress(ServerKind kind)
    {
        // §2.10, §7 probe 6.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("su");
        string unique = TestNames.Unique("U");
        var asker = await s.ConnectAsync();

        await asker.AssertStatusUniqueAsync("nouniq", "nouniq\00\00\00\00\00");

        var c1 = await s.ConnectAsync();
        var c2 = await s.ConnectAsync();
        var bg = await s.ConnectAsync();
        string handle = await c1.SubmitAsync(fn, unique, "x");
        await asker.AssertStatusUniqueAsync(unique, $"{unique}\01\00\00\00\01");

        Assert.Equal(handle, await c2.SubmitAsync(fn, unique, "y"));
        Assert.Equal(handle, await bg.SubmitBackgroundAsync(fn, unique, "z"));
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await worker.SendAsync(PacketType.WorkStatus, handle, "1", "2");
        await c1.ExpectAsync(PacketType.WorkStatus, $"{handle}\01\02");
        await c2.ExpectAsync(PacketType.WorkStatus, $"{handle}\01\02");
        await asker.AssertStatusUniqueAsync(unique, $"{unique}\01\01\01\02\02");
    }

    [Theory]
    [BothServers]
    public async Task GET_STATUS_UNIQUE_ignores_dash_and_empty_uniques(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("sd");
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, "-", "data");
        await c.SubmitBackgroundAsync(fn, string.Empty, "data");
        await c.AssertStatusUniqueAsync("-", "-\00\00\00\00\00");
        await c.AssertStatusUniqueAsync("data", "data\00\00\00\00\00");
    }

    [Theory]
    [BothServers]
    public async Task GET_STATUS_UNIQUE_searches_all_functions_and_finds_the_newest_job(ServerKind kind)
    {
        // §2.10 verified quirk: U1 in co and co2 → the co2 job (created last) is described.
        await using var s = await ConformanceSession.StartAsync(kind);
        string co = TestNames.Unique("co");
        string co2 = TestNames.Unique("co2");
        string unique = TestNames.Unique("U1");
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(co, unique, "a");
        string second = await c.SubmitBackgroundAsync(co2, unique, "b");
        var worker = await s.WorkerAsync(co2);
        await worker.GrabExpectAsync(second, co2, "b");
        await c.AssertStatusUniqueAsync(unique, $"{unique}\01\01\00\00\00");
    }

    [Theory]
    [BothServers]
    public async Task Unique_of_65_bytes_is_refused_and_64_is_accepted(ServerKind kind)
    {
        // §2.3 step 2, §7 probe 7. [1.1.20] BUG: 64 bytes are stored truncated to 63 and sent with
        // a NUL in place of the 64th byte; ours stores them in full.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("u64");
        var c = await s.ConnectAsync();
        await c.SendAsync(PacketType.SubmitJobBg, fn, new string('u', 65), "x");
        await c.ExpectErrorAsync("ARGUMENT_TOO_LARGE", "Unique value too large");

        string unique64 = new('v', 64);
        string handle = await c.SubmitBackgroundAsync(fn, unique64, "y");
        var worker = await s.WorkerAsync(fn);
        var assign = await worker.GrabAsync(PacketType.GrabJobUniq);
        // gearmand keeps a 64-byte buffer whose last byte is the terminator, and sends all 64 bytes: 63 × v and a NUL.
        string stored = s.IsGearmand ? unique64[..63] + "\\0" : unique64;
        Assert.Equal($"JOB_ASSIGN_UNIQ {handle}\\0{fn}\\0{stored}\\0y", RawConnectionExtensions.Describe(assign));
    }

    [Theory]
    [BothServers]
    public async Task Reduce_submit_checks_the_reducer_length(ServerKind kind)
    {
        // §2.3 step 2: [1.1.20] BUG checks REDUCER against the 64-byte unique limit; ours limits REDUCER to 512 bytes.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("red");
        var c = await s.ConnectAsync();
        await c.SendAsync(PacketType.SubmitReduceJobBackground, fn, "u", new string('r', 70), string.Empty, "x");
        if (s.IsGearmand)
        {
            await c.ExpectErrorAsync("ARGUMENT_TOO_LARGE", "Unique value too large");
        }
        else
        {
            Assert.Equal(s.Handle(1), await c.ExpectJobCreatedAsync());
            await c.SendAsync(PacketType.SubmitReduceJobBackground, fn, "u2", new string('r', 513), string.Empty, "x");
            await c.ExpectErrorAsync("ARGUMENT_TOO_LARGE", "Reducer name too large");
            await c.SendAsync(PacketType.SubmitReduceJobBackground, fn, new string('u', 65), "r", string.Empty, "x");
            await c.ExpectErrorAsync("ARGUMENT_TOO_LARGE", "Unique value too large");
        }

        await c.SyncAsync();
    }
}
