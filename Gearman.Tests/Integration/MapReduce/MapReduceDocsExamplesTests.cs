using System.Globalization;
using System.Text;
using System.Text.Json;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.MapReduce;

/// <summary>
/// The word-count example of README.md ("Map-reduce: word count") and the examples of docs/mapreduce.md, run against
/// gearmand and our server; DocsSnippetsTests checks that the pages show exactly these regions.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MapReduceDocsExamplesTests
{
    private const string Expected = """{"brown":1,"dog":1,"end":1,"fox":1,"jumps":1,"lazy":1,"over":1,"quick":1,"the":3}""";

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Word_count(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        var output = new StringWriter();

        // docs: wordcount
        string[] servers = [$"{server.Host}:{server.Port.ToString(CultureInfo.InvariantCulture)}"]; // docs shows: string[] servers = ["localhost:4730"];

        // The worker: "wordcount" splits a text into lines (the map step), "count_words" counts the words of one line
        // (the reduce step), and the aggregator adds up the per-line counts.
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = servers });
        worker.AddMapper(
            "wordcount",
            (job, _) => Encoding.UTF8.GetString(job.Workload.Span)
                .Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(line))
                .ToAsyncEnumerable(),
            async (lineCounts, cancellationToken) =>
            {
                var total = new SortedDictionary<string, int>(StringComparer.Ordinal);
                await foreach (var json in lineCounts.WithCancellation(cancellationToken))
                {
                    foreach (var (word, count) in JsonSerializer.Deserialize<Dictionary<string, int>>(json.Span)!)
                    {
                        total[word] = total.GetValueOrDefault(word) + count;
                    }
                }

                return JsonSerializer.SerializeToUtf8Bytes(total);
            },
            GearmanMapperOptions.Default with { MaxReducerJobs = 8 });
        worker.AddFunction(
            "count_words",
            (job, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(JsonSerializer.SerializeToUtf8Bytes(
                Encoding.UTF8.GetString(job.Workload.Span)
                    .Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .CountBy(word => word.ToLowerInvariant())
                    .ToDictionary())),
            GearmanFunctionOptions.Default with { BoundedCapacity = 8, MaxDegreeOfParallelism = 4 });
        await worker.StartAsync();

        // The client: one map-reduce job, like libgearman's gearman_execute_by_partition.
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = servers });
        string text = "The quick brown fox\njumps over the lazy dog\nThe end";
        ReadOnlyMemory<byte> result = await client.ExecuteReduceAsync("wordcount", "count_words", Encoding.UTF8.GetBytes(text));
        output.WriteLine(Encoding.UTF8.GetString(result.Span));
        // {"brown":1,"dog":1,"end":1,"fox":1,"jumps":1,"lazy":1,"over":1,"quick":1,"the":3}
        // end

        Assert.Equal(Expected, output.ToString().Trim());
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_mapreduce_page_examples(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string[] servers = [$"{server.Host}:{server.Port.ToString(CultureInfo.InvariantCulture)}"];
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = servers });

        // docs: mapreduce-addmapper
        worker.AddMapper(
            "wordcount",
            mapper: (job, ct) => SplitIntoLines(job.Workload),         // IAsyncEnumerable<ReadOnlyMemory<byte>>
            aggregator: (results, ct) => SumAsync(results, ct),        // results in chunk order; null for none
            GearmanMapperOptions.Default with { MaxReducerJobs = 32 });
        // end
        worker.AddFunction(
            "count_words",
            (job, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes(
                Encoding.UTF8.GetString(job.Workload.Span).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length.ToString(CultureInfo.InvariantCulture))),
            GearmanFunctionOptions.Default with { BoundedCapacity = 4, MaxDegreeOfParallelism = 4 });
        await worker.StartAsync();
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = servers });
        string text = "The quick brown fox\njumps over the lazy dog\nThe end";

        // docs: mapreduce-execute
        ReadOnlyMemory<byte> counts = await client.ExecuteReduceAsync("wordcount", "count_words", Encoding.UTF8.GetBytes(text));
        // end

        Assert.Equal("11", Encoding.UTF8.GetString(counts.Span));

        static async IAsyncEnumerable<ReadOnlyMemory<byte>> SplitIntoLines(ReadOnlyMemory<byte> text)
        {
            foreach (string line in Encoding.UTF8.GetString(text.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                await Task.Yield();
                yield return Encoding.UTF8.GetBytes(line);
            }
        }

        static async ValueTask<ReadOnlyMemory<byte>> SumAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> results, CancellationToken cancellationToken)
        {
            long sum = 0;
            await foreach (var count in results.WithCancellation(cancellationToken))
            {
                sum += long.Parse(Encoding.UTF8.GetString(count.Span), CultureInfo.InvariantCulture);
            }

            return Encoding.UTF8.GetBytes(sum.ToString(CultureInfo.InvariantCulture));
        }
    }
}
