using System.Text;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Xunit;

namespace Gearman.Tests.Unit.Client;

/// <summary>
/// Strings the protocol NUL-separates (function, unique ID, reducer, client ID, handle) are refused at the API boundary
/// when they contain NUL, on the client, worker and map-reduce paths: sent as is, a NUL re-splits the packet (a function
/// "a\0b" queued the job under "a"). So is a submit over the client's MaxPacketSize. No sockets: all of it throws
/// before anything connects.
/// </summary>
[Trait("Category", "Unit")]
public sealed class ProtocolFieldArgumentTests
{
    private static readonly byte[] Payload = Encoding.UTF8.GetBytes("payload");

    private static readonly Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> Echo = (job, _) => ValueTask.FromResult(job.Workload);

    [Fact]
    public async Task The_client_refuses_NUL_in_function_unique_reducer_and_handle_naming_the_argument()
    {
        await using var client = NewClient();
        AssertNul("function", () => client.Submit("evil\0injected", Payload));
        AssertNul("function", () => client.ExecuteAsync("a\0b", Payload));
        AssertNul("function", () => client.SubmitBackgroundAsync("a\0b", Payload));
        AssertNul("options", () => client.ExecuteAsync("f", Payload, new GearmanJobOptions { Unique = "u1\0smuggled" }));
        AssertNul("options", () => client.Submit("f", Payload, new GearmanJobOptions { Unique = "u1\0smuggled", Background = true }));
        AssertNul("options", () => client.Submit("f", Payload, new GearmanJobOptions { Reducer = "r\0x" }));
        AssertNul("job", () => client.GetStatusAsync(new JobHandle(client.Sessions[0].Name, "H:1\0x")));
        AssertNul("unique", () => client.GetStatusByUniqueAsync("u\0x"));
        AssertNul("unique", () => client.ObserveStatusByUnique("u\0x", TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task The_map_reduce_shorthands_refuse_NUL_in_mapper_and_reducer()
    {
        await using var client = NewClient();
        AssertNul("reducer", () => client.SubmitReduce("m", "r\0x", Payload));
        AssertNul("reducer", () => client.ExecuteReduceAsync("m", "r\0x", Payload));
        AssertNul("reducer", () => client.SubmitReduceBackgroundAsync("m", "r\0x", Payload));
        AssertNul("function", () => client.ExecuteReduceAsync("m\0x", "r", Payload));

        await using var worker = new GearmanWorker();
        AssertNul("function", () => Returning(() => worker.AddMapper("m\0x", (job, _) => new[] { job.Workload }.ToAsyncEnumerable(), null, GearmanMapperOptions.Default)));
    }

    [Fact]
    public async Task The_worker_refuses_NUL_in_function_names_naming_the_argument()
    {
        await using var worker = new GearmanWorker();
        AssertNul("function", () => Returning(() => worker.AddFunction("a\0b", Echo, GearmanFunctionOptions.Default)));
        AssertNul("function", () => worker.Jobs("a\0b", GearmanFunctionOptions.Default));
        AssertNul("functions", () => worker.Jobs(["ok", "a\0b"], GearmanFunctionOptions.Default));
    }

    [Fact]
    public void Client_IDs_with_NUL_are_refused_by_client_and_worker()
    {
        AssertNul("options", () => new GearmanClient(GearmanClientOptions.Default with { Servers = ["127.0.0.1:1"], ClientId = "me\0you" }));
        AssertNul("options", () => new GearmanWorker(GearmanWorkerOptions.Default with { Servers = ["127.0.0.1:1"], ClientId = "me\0you" }));
    }

    [Fact]
    public async Task A_submit_over_the_clients_MaxPacketSize_is_refused_before_anything_is_sent()
    {
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = ["127.0.0.1:1"], MaxPacketSize = 1000 });

        // The body is "f\0" + a 36-byte UUID + "\0" + payload: 39 bytes besides the payload.
        var error = Assert.Throws<ArgumentException>(() => client.Submit("f", new byte[1000 - 39 + 1]));
        Assert.Equal("payload", error.ParamName);
        Assert.Contains("MaxPacketSize", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => client.SubmitBackgroundAsync("f", new byte[2000]));
        Assert.Throws<ArgumentException>(() => client.ExecuteReduceAsync("m", "r", new byte[2000]));

        // Exactly at the limit is fine (it fails later, on the unreachable server, not here).
        _ = client.Submit("f", new byte[1000 - 39]);
    }

    private static GearmanClient NewClient() => new(GearmanClientOptions.Default with { Servers = ["127.0.0.1:1"] });

    private static object? Returning(Action call)
    {
        call();
        return null;
    }

    private static void AssertNul(string paramName, Func<object?> call)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => call());
        Assert.Equal(paramName, error.ParamName);
        Assert.Contains("NUL", error.Message, StringComparison.Ordinal);
    }
}
