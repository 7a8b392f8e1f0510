using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Conformance;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Monitoring;

/// <summary>The monitoring port (<c>--monitor-port</c>): health, readiness, the typed admin views, Prometheus and cancel.</summary>
[Trait("Category", "Integration")]
public sealed class MonitoringEndpointTests
{
    private static readonly ServerStartOptions WithMonitoring = new() { Monitoring = true };

    [Fact]
    public async Task Healthz_answers_ok_and_readyz_is_ready_on_a_memory_queue()
    {
        await using var server = await InProcessServer.StartAsync(WithMonitoring, TestContext.Current.CancellationToken);
        using var http = Client(server);
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal("ok\n", await http.GetStringAsync("/healthz", ct));
        using var ready = await http.GetAsync("/readyz", ct);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using var json = JsonDocument.Parse(await ready.Content.ReadAsStringAsync(ct));
        Assert.True(json.RootElement.GetProperty("ready").GetBoolean());
        Assert.Equal("memory", json.RootElement.GetProperty("store").GetProperty("type").GetString());
    }

    [Fact]
    public async Task Readyz_turns_unready_while_the_store_is_down_and_back_when_it_returns()
    {
        var store = new ControllableJobStore();
        await using var server = await InProcessServer.StartWithStoreAsync(WithMonitoring, store, TestContext.Current.CancellationToken);
        using var http = Client(server);
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        Assert.Equal(HttpStatusCode.OK, await ReadyStatusAsync(http));

        store.SetDown(true);
        await client.SendAsync(PacketType.SubmitJobBg, TestNames.Unique("ready"), "u", "data");
        await client.ExpectPacketAsync(PacketType.Error);
        await WaitForReadyStatusAsync(http, HttpStatusCode.ServiceUnavailable);

        store.SetDown(false);
        await WaitForReadyStatusAsync(http, HttpStatusCode.OK);
    }

    [Fact]
    public async Task Api_views_show_functions_by_priority_workers_and_jobs()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithMonitoring);
        using var http = Client(s.Server);
        var ct = TestContext.Current.CancellationToken;
        string fn = TestNames.Unique("api");
        var client = await s.ConnectAsync();
        string high = await client.SubmitAsync(PacketType.SubmitJobHighBg, fn, "u1", "a");
        await client.SubmitAsync(PacketType.SubmitJobLowBg, fn, "u2", "b");
        await client.SubmitAsync(PacketType.SubmitJobLowBg, fn, "u3", "c");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(high, fn, "a");

        using var status = JsonDocument.Parse(await http.GetStringAsync("/api/status", ct));
        var row = status.RootElement.EnumerateArray().Single(f => f.GetProperty("name").GetString() == fn);
        Assert.Equal(3, row.GetProperty("total").GetInt32());
        Assert.Equal(1, row.GetProperty("running").GetInt32());
        Assert.Equal(1, row.GetProperty("workers").GetInt32());
        Assert.Equal(0, row.GetProperty("queuedHigh").GetInt32());
        Assert.Equal(2, row.GetProperty("queuedLow").GetInt32());

        using var workers = JsonDocument.Parse(await http.GetStringAsync("/api/workers", ct));
        var registered = workers.RootElement.EnumerateArray().Single(w => w.GetProperty("functions").EnumerateArray().Any(f => f.GetString() == fn));
        Assert.Equal(1, registered.GetProperty("runningJobs").GetInt32());

        using var jobs = JsonDocument.Parse(await http.GetStringAsync("/api/jobs", ct));
        var ours = jobs.RootElement.EnumerateArray().Where(j => j.GetProperty("function").GetString() == fn).ToList();
        Assert.Equal(["high", "low", "low"], ours.Select(j => j.GetProperty("priority").GetString()));
        Assert.True(ours[0].GetProperty("running").GetBoolean());
        Assert.Equal(high, ours[0].GetProperty("handle").GetString());
        Assert.Equal("u1", ours[0].GetProperty("unique").GetString());
    }

    [Fact]
    public async Task Api_status_and_workers_say_what_the_admin_status_and_workers_commands_say()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithMonitoring);
        using var http = Client(s.Server);
        var ct = TestContext.Current.CancellationToken;
        string a = TestNames.Unique("same_a"), b = TestNames.Unique("same_b");
        var client = await s.ConnectAsync();
        await client.SubmitBackgroundAsync(a, "u1", "x");
        await client.SubmitBackgroundAsync(b, "u2", "y");
        var worker = await s.WorkerAsync(a, b);
        await worker.SendAsync(PacketType.SetClientId, "page-worker");
        await worker.SyncAsync();

        var admin = await s.ConnectAsync();
        var statusRows = (await admin.AdminListAsync("status")).Order(StringComparer.Ordinal).ToList();
        var workerRows = (await admin.AdminListAsync("workers")).ToList();
        using var status = JsonDocument.Parse(await http.GetStringAsync("/api/status", ct));
        using var workers = JsonDocument.Parse(await http.GetStringAsync("/api/workers", ct));

        Assert.Equal(statusRows, status.RootElement.EnumerateArray()
            .Select(f => $"{f.GetProperty("name").GetString()}\t{f.GetProperty("total").GetInt32()}\t{f.GetProperty("running").GetInt32()}\t{f.GetProperty("workers").GetInt32()}")
            .Order(StringComparer.Ordinal));

        // The admin connection itself is listed by both, at the moment each was taken.
        var fromApi = workers.RootElement.EnumerateArray()
            .Select(w => $"{w.GetProperty("id").GetInt32()} {w.GetProperty("address").GetString()} {w.GetProperty("clientId").GetString()} :{string.Concat(w.GetProperty("functions").EnumerateArray().Select(f => " " + f.GetString()))}")
            .ToList();
        Assert.Equal(workerRows, fromApi);
        Assert.Contains(fromApi, row => row.Contains($" page-worker : {b} {a}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Metrics_are_scrapeable_in_prometheus_format_with_per_function_gauges()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithMonitoring);
        using var http = Client(s.Server);
        var ct = TestContext.Current.CancellationToken;
        string fn = TestNames.Unique("prom");
        var client = await s.ConnectAsync();
        await client.SubmitAsync(PacketType.SubmitJobHighBg, fn, "u1", "a");
        await client.SubmitAsync(PacketType.SubmitJobHighBg, fn, "u2", "b");
        await client.SubmitAsync(PacketType.SubmitJobBg, fn, "u3", "c");
        await s.WorkerAsync(fn);

        using var response = await http.GetAsync("/metrics", ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string text = await response.Content.ReadAsStringAsync(ct);
        Assert.Contains("# TYPE gearman_server_jobs_submitted_total counter", text, StringComparison.Ordinal);
        Assert.Contains($"gearman_server_function_queued{{otel_scope_name=\"Gearman.Server.Functions\",gearman_function=\"{fn}\",gearman_job_priority=\"high\"}} 2", text, StringComparison.Ordinal);
        Assert.Contains($"gearman_server_function_queued{{otel_scope_name=\"Gearman.Server.Functions\",gearman_function=\"{fn}\",gearman_job_priority=\"normal\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains($"gearman_server_function_workers{{otel_scope_name=\"Gearman.Server.Functions\",gearman_function=\"{fn}\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains("dotnet_gc_collections_total", text, StringComparison.Ordinal); // the runtime's meter
    }

    [Fact]
    public async Task Cancel_needs_the_admin_token_and_only_cancels_queued_jobs()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithMonitoring with { AdminToken = "s3cret" });
        using var http = Client(s.Server);
        var ct = TestContext.Current.CancellationToken;
        string fn = TestNames.Unique("cancel");
        var client = await s.ConnectAsync();
        string running = await client.SubmitBackgroundAsync(fn, "u1", "a");
        string queued = await client.SubmitBackgroundAsync(fn, "u2", "b");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(running, fn, "a");

        Assert.Equal(HttpStatusCode.Unauthorized, await CancelAsync(http, queued, token: null));
        Assert.Equal(HttpStatusCode.Unauthorized, await CancelAsync(http, queued, "wrong"));
        Assert.Equal(HttpStatusCode.Conflict, await CancelAsync(http, running, "s3cret"));
        Assert.Equal(HttpStatusCode.OK, await CancelAsync(http, queued, "s3cret"));
        Assert.Equal(HttpStatusCode.NotFound, await CancelAsync(http, queued, "s3cret"));

        Assert.Equal($"{fn}\t1\t1\t1", await client.StatusOfAsync(fn));
        await worker.ExpectNoJobAsync();
    }

    [Fact]
    public async Task Without_an_admin_token_the_page_is_read_only()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithMonitoring);
        using var http = Client(s.Server);
        string fn = TestNames.Unique("ro");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitBackgroundAsync(fn, "u1", "a");

        Assert.Equal(HttpStatusCode.Forbidden, await CancelAsync(http, handle, "anything"));
        Assert.Equal($"{fn}\t1\t0\t0", await client.StatusOfAsync(fn));
    }

    internal static HttpClient Client(IServerUnderTest server)
        => new() { BaseAddress = new Uri($"http://127.0.0.1:{server.MonitorPort}/"), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<HttpStatusCode> CancelAsync(HttpClient http, string handle, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/jobs/{Uri.EscapeDataString(handle)}/cancel");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    private static async Task<HttpStatusCode> ReadyStatusAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/readyz", TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    /// <summary>Polls <c>/readyz</c> (it reflects the store writer's view, which has no event to await) against a deadline.</summary>
    private static async Task WaitForReadyStatusAsync(HttpClient http, HttpStatusCode expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        HttpStatusCode last;
        while ((last = await ReadyStatusAsync(http)) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"/readyz stayed {last}, expected {expected}");
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
    }
}
