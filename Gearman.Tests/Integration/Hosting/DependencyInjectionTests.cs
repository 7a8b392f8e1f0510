using System.Text;
using Gearman.Reactive.Client;
using Gearman.Reactive.Hosting;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Integration.Hosting;

/// <summary>
/// Options binding, named clients, TryAdd registrations and the worker from DI. The <c>docs:</c> regions are copied
/// into docs/client.md and docs/worker.md.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DependencyInjectionTests(ClientServerFixture servers) : IClassFixture<ClientServerFixture>
{
    [Fact]
    public async Task A_configuration_section_replaces_the_default_servers_and_named_clients_share_one_instance()
    {
        // docs: di-config
        // In an application this is builder.Configuration (appsettings.json, environment variables, ...).
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gearman:Servers:0"] = "gm1:4730",
            ["Gearman:Servers:1"] = "gm2:4730",
            ["Gearman:ClientId"] = "web-frontend",
            ["Gearman:ConnectTimeout"] = "00:00:02",
            ["Reports:Servers:0"] = "reports:4730",
        }).Build();

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddGearmanClient(configuration.GetSection("Gearman"));              // the unnamed client
        services.AddGearmanClient("reports", configuration.GetSection("Reports"));   // a named one
        await using var provider = services.BuildServiceProvider();

        IGearmanClient client = provider.GetRequiredService<IGearmanClient>();
        GearmanClient reports = provider.GetRequiredService<IGearmanClientFactory>().GetClient("reports");
        // also: provider.GetRequiredKeyedService<IGearmanClient>("reports"), or [FromKeyedServices("reports")] in a constructor
        // end

        var options = provider.GetRequiredService<IOptions<GearmanClientOptions>>().Value;
        Assert.Equal(["gm1:4730", "gm2:4730"], options.Servers);
        Assert.Equal("web-frontend", options.ClientId);
        Assert.Equal(TimeSpan.FromSeconds(2), options.ConnectTimeout);
        Assert.Same(provider.GetRequiredService<ILoggerFactory>(), options.LoggerFactory);
        Assert.Same(provider.GetRequiredService<GearmanClient>(), client);
        Assert.Equal(["reports:4730"], reports.Options.Servers);
        Assert.Null(reports.Options.ClientId);
        Assert.Same(reports, provider.GetRequiredKeyedService<IGearmanClient>("reports"));
        Assert.Same(reports, provider.GetRequiredKeyedService<GearmanClient>("reports"));
        Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IGearmanClientFactory>().GetClient("nope"));
    }

    [Fact]
    public async Task Registrations_for_one_name_add_up_and_use_the_containers_clock_and_logging()
    {
        var clock = new FakeTimeProvider();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Servers:0"] = "a:1" }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(clock);
        services.AddGearmanClient(configuration);
        services.AddGearmanClient(o => o with { ClientId = "layered" });
        services.AddGearmanClient(); // TryAdd: no second client
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<GearmanClient>();
        Assert.Equal(["a:1"], client.Options.Servers);
        Assert.Equal("layered", client.Options.ClientId);
        Assert.Same(clock, client.Options.TimeProvider);
        Assert.Single(services, d => d.ServiceType == typeof(GearmanClient) && !d.IsKeyedService);
        Assert.Same(client.Options, provider.GetRequiredService<GearmanClientOptions>());
    }

    [Fact]
    public async Task Without_servers_in_configuration_the_default_list_stays_and_an_unknown_key_is_an_error()
    {
        var services = new ServiceCollection();
        services.AddGearmanClient(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ClientId"] = "x" }).Build());
        services.AddGearmanClient("typo", new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Server:0"] = "x:1" }).Build());
        await using var provider = services.BuildServiceProvider();

        Assert.Equal(["localhost:4730"], provider.GetRequiredService<GearmanClient>().Options.Servers);
        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IGearmanClientFactory>().GetClient("typo"));
        Assert.Contains("Server", error.Message, StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_worker_from_DI_is_bound_from_configuration_resolvable_and_run_by_the_host(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string address = sut.Address();
        string resize = TestNames.Unique("di_resize");
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);

        // docs: di-worker
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gearman:Client:Servers:0"] = address,
            ["Gearman:Worker:Servers:0"] = address,
            ["Gearman:Worker:ClientId"] = "thumbnailer",
        });
        builder.Services.AddGearmanClient(builder.Configuration.GetSection("Gearman:Client"));
        builder.Services.AddGearmanWorker(
            builder.Configuration.GetSection("Gearman:Worker"),
            (services, worker) => worker.AddFunction(resize, (job, _) => Encoding.UTF8.GetBytes("small " + Encoding.UTF8.GetString(job.Workload.Span)), GearmanFunctionOptions.Default));
        // end
        builder.Services.AddSingleton<TimeProvider>(clock);
        using var host = builder.Build();
        await host.StartAsync(Ct);

        var worker = host.Services.GetRequiredService<GearmanWorker>();
        Assert.Equal([address], worker.Options.Servers);
        Assert.Equal("thumbnailer", worker.Options.ClientId);
        Assert.Same(clock, worker.Options.TimeProvider);
        Assert.Same(host.Services.GetRequiredService<ILoggerFactory>(), worker.Options.LoggerFactory);
        var client = host.Services.GetRequiredService<IGearmanClient>();
        var result = await client.ExecuteAsync(resize, Bytes("cat.png"), cancellationToken: Ct).AsTask().WaitAsync(Wait, Ct);
        Assert.Equal("small cat.png", Text(result));
        await host.StopAsync(Ct);
    }

    [Fact]
    public void The_containers_worker_is_registered_once()
    {
        var services = new ServiceCollection();
        var configuration = new ConfigurationBuilder().Build();
        services.AddGearmanWorker(configuration, (_, _) => { });
        Assert.Throws<InvalidOperationException>(() => services.AddGearmanWorker(configuration, (_, _) => { }));
    }
}
