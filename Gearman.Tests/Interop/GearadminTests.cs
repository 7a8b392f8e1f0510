using System.Globalization;
using System.Text.RegularExpressions;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Conformance;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop;

/// <summary>
/// <c>gearadmin</c> (gearman-tools 1.1.20) against the server. gearadmin strips the admin protocol's <c>OK </c> from
/// one-line replies and prints errors as <c>Error: TEXT</c> on stderr with exit status 0 (protocol.md §3 for the wire formats).
/// </summary>
[Trait("Category", "Interop")]
public sealed class GearadminTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Status_counts_queued_running_and_workers(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("adm_status");
        await using var worker = await RawGearmanConnection.ConnectAsync(server);
        await worker.SendAsync(PacketType.CanDo, fn);
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        await client.SubmitBackgroundAsync(fn, string.Empty, "one");
        await client.SubmitBackgroundAsync(fn, string.Empty, "two");
        await worker.SendAsync(PacketType.GrabJob);
        await worker.ExpectPacketAsync(PacketType.JobAssign);

        var lines = await GearadminLinesAsync(server, "--status");

        Assert.Equal(".", lines[^1]);
        Assert.Contains($"{fn}\t2\t1\t1", lines); // TOTAL counts queued and running (protocol.md §3)
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Workers_lists_every_connection_with_id_and_functions(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fa = TestNames.Unique("adm_wa"), fb = TestNames.Unique("adm_wb"), id = TestNames.Unique("my-worker");
        await using var worker = await RawGearmanConnection.ConnectAsync(server);
        await worker.SendAsync(PacketType.SetClientId, id);
        await worker.SendAsync(PacketType.CanDo, fa);
        await worker.SendAsync(PacketType.CanDo, fb);
        await worker.SendAsync(PacketType.EchoReq, "sync"); // requests are handled in order: the echo proves the rest arrived
        await worker.ExpectPacketAsync(PacketType.EchoRes);

        var lines = await GearadminLinesAsync(server, "--workers");

        Assert.Equal(".", lines[^1]);
        // FD IP ID ':' then registrations, most recent first (protocol.md §3); gearadmin's own connection is listed as "- :".
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^\d+ 127\.0\.0\.1 {Regex.Escape(id)} : {Regex.Escape(fb)} {Regex.Escape(fa)}$"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\d+ 127\.0\.0\.1 - :$"));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Server_version_is_one_token(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        var lines = await GearadminLinesAsync(server, "--server-version");
        // The wire reply is "OK <version>\n" (protocol.md §3); the version string itself is the implementation's own.
        Assert.Matches(@"^\S+$", Assert.Single(lines));
        await using var conn = await RawGearmanConnection.ConnectAsync(server);
        Assert.Equal("OK " + lines[0], await conn.AdminAsync("version"));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Getpid_reports_the_server_process(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        var lines = await GearadminLinesAsync(server, "--getpid");
        Assert.Equal(server.ProcessId.ToString(CultureInfo.InvariantCulture), Assert.Single(lines));

        // On the wire: "OK <pid>" with a bare LF (protocol.md §3).
        await using var conn = await RawGearmanConnection.ConnectAsync(server);
        Assert.Equal($"OK {server.ProcessId}", await conn.AdminAsync("getpid"));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Show_jobs_lists_handle_retries_ignored_persisted(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("adm_jobs");
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        string bg = await client.SubmitBackgroundAsync(fn, string.Empty, "bg");
        string fg = await client.SubmitAsync(fn, string.Empty, "fg");

        var lines = await GearadminLinesAsync(server, "--show-jobs");

        Assert.Equal(".", lines[^1]);
        // PERSISTED: gearmand marks queued background jobs persisted even with the builtin (memory) queue; a durable
        // store does too. Foreground jobs are never persisted (protocol.md §6.2).
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^{Regex.Escape(bg)}\t0\t0\t[01]$"));
        Assert.Contains($"{fg}\t0\t0\t0", lines);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Create_function_then_drop_function(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("adm_create");

        Assert.Equal(["OK"], await GearadminLinesAsync(server, "--create-function", fn));
        // gearadmin ends the line with CRLF, so the 1.1.20 truncation bug (protocol.md §3) does not bite: the full name exists.
        Assert.Equal(new FunctionStatus(fn, 0, 0, 0), await AdminProbe.StatusOfAsync(server, fn));

        Assert.Equal(["OK"], await GearadminLinesAsync(server, "--drop-function", fn));
        Assert.Null(await AdminProbe.StatusOfAsync(server, fn));

        Assert.Equal("Error: function not found\n", await GearadminErrorAsync(server, "--drop-function", fn));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Drop_function_is_refused_while_a_worker_is_registered(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("adm_busy");
        await using var worker = await ConnectWorkerAsync(server, fn);

        Assert.Equal("Error: there are still connected workers or executing clients\n", await GearadminErrorAsync(server, "--drop-function", fn));
        Assert.Equal(new FunctionStatus(fn, 0, 0, 1), await AdminProbe.StatusOfAsync(server, fn));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Cancel_job_fails_the_waiting_client_at_once(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("adm_cancel");
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        string handle = await client.SubmitAsync(fn, string.Empty, "doomed");

        Assert.Equal(["OK"], await GearadminLinesAsync(server, "--cancel-job", handle));

        // Spec §2.14: every attached client gets WORK_FAIL H at once.
        var fail = await client.ExpectPacketAsync(PacketType.WorkFail);
        Assert.Equal(handle, fail.BodyText.TrimEnd('\0'));

        Assert.Equal("Error: UNKNOWN_JOB\n", await GearadminErrorAsync(server, "--cancel-job", handle + "999"));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Priority_status_counts_queued_jobs_per_priority(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("adm_prio");
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        foreach (var type in new[] { PacketType.SubmitJobHighBg, PacketType.SubmitJobHighBg, PacketType.SubmitJobBg, PacketType.SubmitJobLowBg, PacketType.SubmitJobLowBg, PacketType.SubmitJobLowBg })
        {
            await client.SubmitAsync(type, fn, string.Empty, "x");
        }

        await using var worker = await ConnectWorkerAsync(server, fn);

        var lines = await GearadminLinesAsync(server, "--priority-status");

        Assert.Equal(".", lines[^1]);
        Assert.Contains($"{fn}\t2\t1\t3\t1", lines); // FUNC HIGH NORMAL LOW WORKERS (protocol.md §3)
    }

    private static async Task<IReadOnlyList<string>> GearadminLinesAsync(IServerUnderTest server, params string[] args)
    {
        await using var admin = await GearmanTools.RunGearadminAsync(server, args);
        Assert.True(await admin.WaitForExitAsync() == 0, admin.Transcript());
        Assert.True(admin.StandardError.Length == 0, admin.Transcript());
        return admin.OutputLines;
    }

    /// <summary>What gearadmin printed on stderr (it reports errors there, with exit status 0).</summary>
    private static async Task<string> GearadminErrorAsync(IServerUnderTest server, params string[] args)
    {
        await using var admin = await GearmanTools.RunGearadminAsync(server, args);
        return admin.StandardError;
    }

    /// <summary>A raw connection that registers <paramref name="function"/> (CAN_DO), once the server counts it as a worker.</summary>
    private static async Task<RawGearmanConnection> ConnectWorkerAsync(IServerUnderTest server, string function)
    {
        var worker = await RawGearmanConnection.ConnectAsync(server);
        try
        {
            await worker.SendAsync(PacketType.CanDo, function);
            await AdminProbe.WaitForWorkersAsync(server, function);
            return worker;
        }
        catch
        {
            await worker.DisposeAsync();
            throw;
        }
    }
}
