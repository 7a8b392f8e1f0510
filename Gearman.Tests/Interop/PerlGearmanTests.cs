using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop;

/// <summary>Perl's Gearman::Client and Gearman::Worker (libgearman-client-perl 2.004) against the server.</summary>
[Trait("Category", "Interop")]
public sealed class PerlGearmanTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Do_task_gets_status_and_result_from_a_perl_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("perl_do");
        await using var worker = await Peers.StartPerlWorkerAsync(server, fn);

        var output = await Peers.RunPerlClientAsync(server, "do", fn, "hello");

        Assert.Equal(["status 1/2", "result perl:olleh"], output);
        Assert.Matches(@"^job \S+ hello$", await Peers.SoleJobLineAsync(worker, Ct));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Task_set_completes_every_task(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("perl_set");
        await using var worker = await Peers.StartPerlWorkerAsync(server, fn, count: 3);

        var output = await Peers.RunPerlClientAsync(server, "taskset", fn, "abc", "de", "f");

        Assert.Equal("done", output[^1]);
        Assert.Equal(["complete abc perl:cba", "complete de perl:ed", "complete f perl:f"], output.Take(output.Count - 1).Order(StringComparer.Ordinal));
        Assert.Equal(0, await worker.WaitForExitAsync(Peers.RunTimeout));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Perl_background_job_runs_on_a_libgearman_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("perl_bg");

        var output = await Peers.RunPerlClientAsync(server, "bg", fn, "from perl");

        // Gearman::Client prefixes the handle with the server address ("127.0.0.1:PORT//H").
        Assert.Equal(2, output.Count);
        Assert.StartsWith($"handle {server.Host}:{server.Port}//", output[0], StringComparison.Ordinal);
        Assert.Equal("known=1 running=0", output[1]);

        string handle = output[0][$"handle {server.Host}:{server.Port}//".Length..];
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "echo", "--count", "1");
        Assert.Equal(0, await worker.WaitForExitAsync(Peers.RunTimeout));
        Assert.StartsWith($"job {handle} ", Assert.Single(worker.OutputLines), StringComparison.Ordinal);
        Assert.EndsWith(" from perl", worker.OutputLines[0], StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Libgearman_client_is_served_by_a_perl_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("perl_mixed");
        await using var worker = await Peers.StartPerlWorkerAsync(server, fn);

        var tasks = await Peers.RunCClientAsync(server, "tasks", fn, "xyz");
        string handle = Assert.Single(tasks, l => l.StartsWith("1 created ", StringComparison.Ordinal))["1 created ".Length..];
        Assert.Equal([$"1 created {handle}", "1 status 1/2", $"1 complete {handle} perl:zyx", "ret GEARMAN_SUCCESS"], tasks);
    }
}
