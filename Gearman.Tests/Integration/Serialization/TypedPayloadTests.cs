using System.Text;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Serialization;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Client;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Serialization;

/// <summary>
/// Typed and string payloads end to end, against gearmand and our server. The regions marked <c>docs:</c> are the
/// examples of docs/client.md and docs/worker.md, copied there as written.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TypedPayloadTests(ClientServerFixture servers) : IClassFixture<ClientServerFixture>
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Typed_request_and_result_and_string_payloads_round_trip(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string server = sut.Address();
        string placeOrder = TestNames.Unique("place_order");
        string shout = TestNames.Unique("shout");
        await using var worker = new GearmanWorker(Options(sut));

        // docs: typed-worker
        // A typed handler: the workload is read as an Order, the Receipt written as JSON (source-generated metadata).
        worker.AddFunction<Order, Receipt>(
            placeOrder,
            order => new Receipt(order.Id, order.Quantity > 0 ? "accepted" : "rejected"),
            ShopJson.Default.Order,
            ShopJson.Default.Receipt,
            GearmanFunctionOptions.Default);

        // A synchronous byte handler: return the bytes, no ValueTask.FromResult needed.
        worker.AddFunction(shout, (job, _) => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(job.Workload.Span).ToUpperInvariant()), GearmanFunctionOptions.Default);
        // end
        await worker.StartAsync(Ct);

        // docs: typed-client
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] });

        Receipt receipt = await client.ExecuteAsync<Order, Receipt>(placeOrder, new Order(42, "book", 2), ShopJson.Default.Order, ShopJson.Default.Receipt);
        string loud = await client.ExecuteAsync(shout, "hello"); // UTF-8 text both ways
        // end

        Assert.Equal(new Receipt(42, "accepted"), receipt);
        Assert.Equal("HELLO", loud);
        Assert.Equal(new Receipt(7, "rejected"), await client.ExecuteAsync<Order, Receipt>(placeOrder, new Order(7, "pen", 0), ShopJson.Default.Order, ShopJson.Default.Receipt));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_workload_that_does_not_deserialize_fails_that_job_and_the_worker_goes_on(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string fn = TestNames.Unique("typed_bad");
        await using var worker = new GearmanWorker(Options(sut));
        worker.AddFunction<Order, Receipt>(fn, order => new Receipt(order.Id, "ok"), ShopJson.Default.Order, ShopJson.Default.Receipt, GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        await using var client = ClientTestSupport.NewClient(sut);

        var error = await Assert.ThrowsAsync<GearmanJobException>(async () => await client.ExecuteAsync(fn, "{not json").AsTask().WaitAsync(ClientTestSupport.Wait, Ct));
        string message = Text(error.ExceptionData);
        Assert.Contains($"The workload of job {error.Handle} ({fn}) is not a valid Order", message, StringComparison.Ordinal);

        // The same worker still serves the next job.
        Assert.Equal(new Receipt(1, "ok"), await client.ExecuteAsync<Order, Receipt>(fn, new Order(1, "a", 1), ShopJson.Default.Order, ShopJson.Default.Receipt).AsTask().WaitAsync(ClientTestSupport.Wait, Ct));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_result_that_does_not_deserialize_throws_a_serialization_exception_naming_the_function(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string fn = TestNames.Unique("typed_bad_result");
        await using var worker = await StartWorkerAsync(Options(sut), fn, Replying(_ => "<xml/>"));
        await using var client = ClientTestSupport.NewClient(sut);

        var error = await Assert.ThrowsAsync<GearmanSerializationException>(
            async () => await client.ExecuteAsync<Order, Receipt>(fn, new Order(1, "a", 1), ShopJson.Default.Order, ShopJson.Default.Receipt).AsTask().WaitAsync(ClientTestSupport.Wait, Ct));
        Assert.StartsWith($"The result of '{fn}' is not a valid Receipt", error.Message, StringComparison.Ordinal);
        Assert.IsType<System.Text.Json.JsonException>(error.InnerException);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Typed_map_reduce_counts_words_per_line(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string wordCount = TestNames.Unique("typed_wc");
        string countWords = TestNames.Unique("typed_cw");
        await using var worker = new GearmanWorker(Options(sut));
        worker.AddFunction<string, int>(countWords, line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length, GearmanSerializer.Utf8, ShopJson.Default.Int32, GearmanFunctionOptions.Default);
        AddLineCounter(worker, wordCount);
        await worker.StartAsync(Ct);
        await using var client = ClientTestSupport.NewClient(sut);

        int total = await client.ExecuteReduceAsync<string[], int>(wordCount, countWords, ["a b c", "d e", "f"], ShopJson.Default.StringArray, ShopJson.Default.Int32)
            .AsTask().WaitAsync(ClientTestSupport.Wait, Ct);

        Assert.Equal(6, total);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_reducer_result_that_does_not_deserialize_fails_the_map_job(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string mapper = TestNames.Unique("typed_map_bad");
        string reducer = TestNames.Unique("typed_red_bad");
        await using var worker = new GearmanWorker(Options(sut));
        worker.AddFunction(reducer, (_, _) => Encoding.UTF8.GetBytes("not a number"), GearmanFunctionOptions.Default);
        AddLineCounter(worker, mapper);
        await worker.StartAsync(Ct);
        await using var client = ClientTestSupport.NewClient(sut);

        var error = await Assert.ThrowsAsync<GearmanJobException>(
            async () => await client.ExecuteReduceAsync<string[], int>(mapper, reducer, ["x"], ShopJson.Default.StringArray, ShopJson.Default.Int32).AsTask().WaitAsync(ClientTestSupport.Wait, Ct));
        Assert.Contains($"The reducer result for chunk 0 of '{mapper}' is not a valid Int32", Text(error.ExceptionData), StringComparison.Ordinal);
    }

    /// <summary>A typed mapper: a JSON array of lines, one UTF-8 chunk per line, reducer results as JSON numbers, summed.</summary>
    private static void AddLineCounter(GearmanWorker worker, string mapper)
        => worker.AddMapper<string[], string, int, int>(
            mapper,
            (lines, _, _) => lines.ToAsyncEnumerable(),
            async (counts, ct) => await counts.SumAsync(ct),
            ShopJson.Default.StringArray,
            GearmanSerializer.Utf8,
            ShopJson.Default.Int32,
            ShopJson.Default.Int32);
}
