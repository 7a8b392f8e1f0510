using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop;

/// <summary>The <c>gearman</c> command line tool (gearman-tools 1.1.20) as client and worker, always with <c>-h 127.0.0.1 -p PORT</c>.</summary>
[Trait("Category", "Interop")]
public sealed class GearmanCliTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Worker_runs_a_command_per_job_and_the_client_prints_its_output(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("cli_upper");
        await using var worker = GearmanTools.StartGearman(server, "-w", "-c", "1", "-f", fn, "--", "tr", "a-z", "A-Z");
        await AdminProbe.WaitForWorkersAsync(server, fn);

        await using var client = await GearmanTools.RunGearmanAsync(server, "-f", fn, "hello gearman");

        Assert.True(await client.WaitForExitAsync() == 0, client.Transcript());
        Assert.Equal("HELLO GEARMAN\n", client.StandardOutput);
        Assert.True(await worker.WaitForExitAsync(GearmanTools.RunTimeout) == 0, worker.Transcript()); // -c 1: one job, then exit
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Client_submits_one_job_per_stdin_line_and_prints_results_in_order(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("cli_rev");
        await using var worker = GearmanTools.StartGearman(server, "-w", "-c", "2", "-f", fn, "--", "rev");
        await AdminProbe.WaitForWorkersAsync(server, fn);

        await using var client = await ExternalProgram.RunAsync(
            GearmanTools.Gearman, ["-h", server.Host, "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-n", "-f", fn], GearmanTools.RunTimeout, standardInput: "one\ntwo\n");

        Assert.True(await client.WaitForExitAsync() == 0, client.Transcript());
        Assert.Equal(["eno", "owt"], client.OutputLines);
        Assert.True(await worker.WaitForExitAsync(GearmanTools.RunTimeout) == 0, worker.Transcript());
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Background_job_waits_for_a_worker_then_runs(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("cli_bg");

        // -b returns once JOB_CREATED arrives, so the job is queued when the client exits (protocol.md §2.3).
        await using (var client = await GearmanTools.RunGearmanAsync(server, "-b", "-f", fn, "bg payload"))
        {
            Assert.True(await client.WaitForExitAsync() == 0, client.Transcript());
            Assert.Equal(string.Empty, client.StandardOutput);
        }

        Assert.Equal(new FunctionStatus(fn, 1, 0, 0), await AdminProbe.StatusOfAsync(server, fn));

        // A worker without a command writes each workload to stdout.
        await using var worker = GearmanTools.StartGearman(server, "-w", "-c", "1", "-f", fn);
        Assert.True(await worker.WaitForExitAsync(GearmanTools.RunTimeout) == 0, worker.Transcript());
        Assert.Equal("bg payload\n", worker.StandardOutput);
        await AdminProbe.WaitForStatusAsync(server, fn, s => s.Total == 0, "an empty queue");
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Background_priorities_are_drained_high_normal_low(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("cli_prio");
        foreach (var (flag, data) in new[] { ("-I", "a"), ("-L", "b"), (string.Empty, "c"), ("-I", "d") })
        {
            string[] args = flag.Length == 0 ? ["-b", "-f", fn, data] : ["-b", flag, "-f", fn, data];
            await using var client = await GearmanTools.RunGearmanAsync(server, args);
            Assert.True(await client.WaitForExitAsync() == 0, client.Transcript());
        }

        // One function, so 1.1.20's per-function priority pick and HEAD's global pick agree (protocol.md §2.5): FIFO within a priority.
        await using var worker = GearmanTools.StartGearman(server, "-w", "-c", "4", "-f", fn);
        Assert.True(await worker.WaitForExitAsync(GearmanTools.RunTimeout) == 0, worker.Transcript());
        Assert.Equal("adcb\n", worker.StandardOutput);
    }
}
