using Gearman.Reactive.Hosting;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Integration.Hosting;

/// <summary>The Gearman health check (ECHO round trips) against gearmand and our server, and against a dead port.</summary>
[Trait("Category", "Integration")]
public sealed class HealthCheckTests(ClientServerFixture servers) : IClassFixture<ClientServerFixture>
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Client_and_worker_servers_that_echo_are_healthy(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string address = sut.Address();

        // docs: health
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddGearmanClient(o => o with { Servers = [address] });
        builder.Services.AddGearmanWorker(o => o with { Servers = [address] }, (_, _) => { });
        builder.Services.AddHealthChecks().AddGearman(tags: ["ready"]); // ECHO to every server of the client and the workers
        // end
        using var host = builder.Build();

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct).WaitAsync(Wait, Ct);

        var entry = report.Entries["gearman"];
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal([$"client {address}", $"worker {address}"], entry.Data.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["ready"], entry.Tags);
    }

    [Fact(Timeout = 60_000)]
    public async Task Named_clients_are_pinged_too()
    {
        var sut = await servers.GetAsync(ServerKind.Ours);
        string dead = $"127.0.0.1:{LoopbackPorts.Unused()}";
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddGearmanClient(o => o with { Servers = [sut.Address()] });
        services.AddGearmanClient("billing", o => o with { Servers = [dead] });
        services.AddHealthChecks().AddGearman();
        await using var provider = services.BuildServiceProvider();

        var entry = (await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct).WaitAsync(Wait, Ct)).Entries["gearman"];

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Equal([$"client {sut.Address()}", $"client:billing {dead}"], entry.Data.Keys.Order(StringComparer.Ordinal));
    }

    [Fact(Timeout = 60_000)]
    public async Task Some_servers_down_is_degraded_and_all_down_is_the_failure_status()
    {
        var sut = await servers.GetAsync(ServerKind.Ours);
        string dead = $"127.0.0.1:{LoopbackPorts.Unused()}";
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddGearmanClient(o => o with { Servers = [sut.Address(), dead] });
        services.AddGearmanWorker(o => o with { Servers = [dead] }, (_, w) => w.AddFunction("unused", (job, _) => job.Workload, GearmanFunctionOptions.Default));
        services.AddHealthChecks().AddGearman("partial").AddGearman("strict", HealthStatus.Degraded);
        await using var provider = services.BuildServiceProvider();

        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct).WaitAsync(Wait, Ct);

        Assert.Equal(HealthStatus.Degraded, report.Entries["partial"].Status);
        Assert.Contains("did not echo", report.Entries["partial"].Description, StringComparison.Ordinal);
        Assert.Contains("Could not connect", (string)report.Entries["partial"].Data[$"worker {dead}"], StringComparison.Ordinal);

        var down = new ServiceCollection();
        down.AddLogging();
        down.AddGearmanClient(o => o with { Servers = [dead] });
        down.AddHealthChecks().AddGearman();
        await using var downProvider = down.BuildServiceProvider();
        var downReport = await downProvider.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct).WaitAsync(Wait, Ct);
        Assert.Equal(HealthStatus.Unhealthy, downReport.Status);
        Assert.IsType<Gearman.Reactive.GearmanConnectionException>(downReport.Entries["gearman"].Exception);
    }
}
