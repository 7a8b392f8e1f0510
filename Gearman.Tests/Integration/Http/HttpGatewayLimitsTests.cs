using System.Net;
using System.Text;
using Gearman.Reactive.Worker;
using Gearman.Server.Hosting;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Http;

/// <summary>The HTTP job gateway under the server's limits: access rules and the answer buffer's bound.</summary>
[Trait("Category", "Integration")]
public sealed class HttpGatewayLimitsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 60_000)]
    public async Task A_submit_that_the_access_rules_deny_is_answered_403_with_the_reason()
    {
        using var directory = new TempDirectory("http-acl");
        string rules = directory.File("rules.json");
        File.WriteAllText(rules, """{ "anonymous": { "submit": ["allowed_*"] } }""");
        await using var server = await StartAsync(o => o with { AccessRulesFile = rules });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpEndPoint!.Port}/") };

        using var response = await http.PostAsync(TestNames.Unique("denied"), new ByteArrayContent("x"u8.ToArray()), Ct).WaitAsync(Timeout, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.StartsWith("PERMISSION_DENIED", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task Job_data_over_the_unsent_bound_is_answered_502_and_the_server_goes_on()
    {
        await using var server = await StartAsync(o => o with { MaxUnsentBytes = 4096 });
        string fn = TestNames.Unique("http_big_data");
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = [$"127.0.0.1:{server.EndPoint.Port}"] });
        worker.AddFunction(fn, async (job, ct) =>
        {
            for (int i = 0; i < 4; i++) await job.SendDataAsync(new byte[2048], ct);
            return (ReadOnlyMemory<byte>)"done"u8.ToArray();
        }, GearmanFunctionOptions.Default);
        worker.AddFunction(fn + "_small", (job, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(job.Workload.ToArray()), GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpEndPoint!.Port}/") };

        using var large = await http.PostAsync(fn, new ByteArrayContent("x"u8.ToArray()), Ct).WaitAsync(Timeout, Ct);
        Assert.Equal(HttpStatusCode.BadGateway, large.StatusCode);
        Assert.Contains("--max-unsent-bytes", await large.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        using var small = await http.PostAsync(fn + "_small", new ByteArrayContent("ok"u8.ToArray()), Ct).WaitAsync(Timeout, Ct);
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        Assert.Equal("ok", Encoding.UTF8.GetString(await small.Content.ReadAsByteArrayAsync(Ct)));
    }

    private static async Task<GearmanServer> StartAsync(Func<GearmanServerOptions, GearmanServerOptions> configure)
    {
        using var timeout = new CancellationTokenSource(TestServers.StartTimeout);
        return await GearmanServer.StartAsync(
            configure(new GearmanServerOptions
            {
                Port = 0,
                ListenAddress = "127.0.0.1",
                QueueType = Gearman.Server.Persistence.QueueType.Memory,
                Transport = TestServers.Transport,
                HttpPort = 0,
            }),
            timeout.Token);
    }
}
