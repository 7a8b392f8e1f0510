using Gearman.Reactive.Hosting;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>Client ID, several job servers, and running workers in the generic host.</summary>
[Trait("Category", "Integration")]
public sealed class WorkerSetupTests
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_server_lists_the_worker_under_its_client_id_with_its_function(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_id");
        string id = TestNames.Unique("worker-id");
        await using var worker = await StartWorkerAsync(Options(server) with { ClientId = id }, fn, Echo);
        await WaitForStatusAsync(server, fn, s => s.Workers == 1, "registered");

        await using var admin = await RawGearmanConnection.ConnectAsync(server, Ct);
        var workers = await admin.AdminListAsync("workers");
        var line = Assert.Single(workers, l => l.Contains($" {id} :", StringComparison.Ordinal));
        Assert.EndsWith($": {fn}", line, StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_worker_serves_every_configured_server(ServerKind kind)
    {
        await using var a = await TestServers.StartAsync(kind, ct: Ct);
        await using var b = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_two");
        await using var worker = await StartWorkerAsync(Options(a, b), fn, Echo);

        await using var ca = await RawGearmanConnection.ConnectAsync(a, Ct);
        await using var cb = await RawGearmanConnection.ConnectAsync(b, Ct);
        string ha = await SubmitAsync(ca, fn, "to a");
        string hb = await SubmitAsync(cb, fn, "to b");
        Assert.Equal([$"WorkComplete {ha}|to a"], (await ReadUntilEndAsync(ca)).Select(Describe));
        Assert.Equal([$"WorkComplete {hb}|to b"], (await ReadUntilEndAsync(cb)).Select(Describe));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_generic_host_runs_registered_workers_and_stops_them_gracefully(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string upper = TestNames.Unique("w_host_upper");
        string slow = TestNames.Unique("w_host_slow");
        var slowStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(new Suffix("!"));
        builder.Services.AddGearmanWorker(
            o => o with { Servers = [$"{server.Host}:{server.Port}"], ClientId = "hosted" },
            (services, worker) =>
            {
                var suffix = services.GetRequiredService<Suffix>();
                worker.AddFunction(upper, Replying(job => Text(job.Workload).ToUpperInvariant() + suffix.Value), GearmanFunctionOptions.Default);
            });
        builder.Services.AddGearmanWorker(
            o => o with { Servers = [$"{server.Host}:{server.Port}"] },
            (_, worker) => worker.AddFunction(slow, async (job, ct) =>
            {
                slowStarted.SetResult();
                await slowGate.Task.WaitAsync(ct);
                return job.Workload;
            }, GearmanFunctionOptions.Default));
        using var host = builder.Build();
        await host.StartAsync(Ct);

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, upper, "hosted");
        Assert.Equal([$"WorkComplete {h}|HOSTED!"], (await ReadUntilEndAsync(client)).Select(Describe));

        // The host's stop waits for the job in flight.
        await using var slowClient = await RawGearmanConnection.ConnectAsync(server, Ct);
        string hs = await SubmitAsync(slowClient, slow, "finish me");
        await slowStarted.Task.Within();
        var stop = host.StopAsync(Ct);
        Assert.False(stop.IsCompleted);
        slowGate.SetResult();
        Assert.Equal([$"WorkComplete {hs}|finish me"], (await ReadUntilEndAsync(slowClient)).Select(Describe));
        await stop.Within();
        await WaitForStatusAsync(server, upper, s => s.Workers == 0, "unregistered");
    }

    private sealed record Suffix(string Value);
}
