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
/// The word-count example of README.md ("Map-reduce: word count"), as written there, run against gearmand and our
/// server; a second test checks that the README still shows exactly this code.
/// </summary>
public sealed class MapReduceDocsExamplesTests
{
    private const string Expected = """{"brown":1,"dog":1,"end":1,"fox":1,"jumps":1,"lazy":1,"over":1,"quick":1,"the":3}""";

    [Theory(Timeout = 60_000)]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Word_count(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string[] servers = [$"{server.Host}:{server.Port.ToString(CultureInfo.InvariantCulture)}"];
        var output = new StringWriter();

        // docs: wordcount
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

    [Fact]
    public void The_README_shows_the_tested_code()
    {
        string root = RepositoryRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        string source = File.ReadAllText(Path.Combine(root, "Gearman.Tests", "Integration", "MapReduce", "MapReduceDocsExamplesTests.cs"));

        string tested = Dedent(Between(source, "        // docs: wordcount\n", "        // end\n")).Replace("output.WriteLine(", "Console.WriteLine(", StringComparison.Ordinal);
        string section = Between(readme, "## Map-reduce: word count", "\n## ");
        string shown = Between(section, "```csharp\n", "```\n");
        Assert.EndsWith(tested, shown, StringComparison.Ordinal);
        Assert.Contains("string[] servers = [\"localhost:4730\"];", shown, StringComparison.Ordinal);
    }

    private static string Between(string text, string start, string end)
    {
        int from = text.IndexOf(start, StringComparison.Ordinal);
        Assert.True(from >= 0, $"'{start.Trim()}' not found");
        from += start.Length;
        int to = text.IndexOf(end, from, StringComparison.Ordinal);
        Assert.True(to >= 0, $"'{end.Trim()}' not found after '{start.Trim()}'");
        return text[from..to];
    }

    private static string Dedent(string block)
        => string.Concat(block.Split('\n').Select(line => (line.StartsWith("        ", StringComparison.Ordinal) ? line[8..] : line.TrimStart()) + "\n"))[..^1];

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gearman.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException("Gearman.sln not found above the test assembly.");
    }
}
