using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// <c>pairs</c>: the SDK map-reduce scenario against two servers at once, one SDK set per server in this process, map
/// jobs alternating between them (the first of each pair alternating too). The throughput harness runs each server in
/// its own window, a second or so apart, and on a shared two-core machine the two windows differ by more than the
/// servers do; here both servers see the same machine state within tens of milliseconds, so the ratio of each pair's
/// latencies measures the servers and not the minute.
/// </summary>
internal static class PairedMapReduceCommand
{
    /// <summary>Pairs per block: the spread is given over blocks, each one ratio of summed latencies.</summary>
    private const int BlockPairs = 10;

    public static int Run(string[] args)
    {
        ThroughputOptions options;
        try
        {
            options = ThroughputOptions.Parse(args);
            if (options.Servers.Count != 2) throw new ArgumentException("--servers needs exactly two servers (default: gearmand,ours)");
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"pairs: {e.Message}");
            return 2;
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => ChildProcesses.KillAll();
        try
        {
            return RunAsync(options).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is LoadException or ServerStartException or OperationCanceledException)
        {
            Console.Error.WriteLine($"pairs: {e.Message}");
            return 1;
        }
        finally
        {
            ChildProcesses.KillAll();
        }
    }

    private static async Task<int> RunAsync(ThroughputOptions options)
    {
        var scenario = Scenario.All.Single(s => s.Kind == ScenarioKind.MapReduce);
        long pairs = scenario.JobsFor(smoke: options.Smoke, options.Scale);
        var run = new ScenarioRun(scenario, pairs, scenario.WarmupFor(options.Smoke, pairs), options.PhaseTimeout, SettleJit: !options.Smoke);
        LoadGen? loadGen = null;
        try
        {
            loadGen = LoadGen.Build();
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"libgearman load generator unavailable ({e.Message}); servers start without it");
        }

        using var backends = new QueueBackends();
        using var certificates = BenchTls.Lifetime();
        var specs = ServerCatalog.CreateAll(options, backends);
        var servers = new List<RunningServer>();
        var sets = new List<SdkMapReduceSet>();
        try
        {
            foreach (var spec in specs) servers.Add(RunningServer.Start(spec, loadGen));
            foreach (var server in servers) sets.Add(await SdkMapReduceSet.StartAsync(scenario, SdkTarget.Of(server)).ConfigureAwait(false));
            using var timeout = new CancellationTokenSource(options.PhaseTimeout);
            var warmupRounds = new int[servers.Count];
            for (int i = 0; i < servers.Count; i++)
            {
                var window = new MeasurementWindow(servers[i], loadInProcess: true);
                var set = sets[i];
                await window.WarmUpAsync(run, () => set.RunOneAsync(timeout.Token)).ConfigureAwait(false);
                warmupRounds[i] = window.WarmupRounds;
            }

            var latencies = servers.Select(_ => new double[pairs]).ToArray();
            var cpuBefore = servers.Select(s => s.CpuSeconds()).ToArray();
            var clock = Stopwatch.StartNew();
            for (long p = 0; p < pairs; p++)
            {
                for (int k = 0; k < servers.Count; k++)
                {
                    int i = p % 2 == 0 ? k : servers.Count - 1 - k;
                    long start = Stopwatch.GetTimestamp();
                    await sets[i].RunOneAsync(timeout.Token).ConfigureAwait(false);
                    latencies[i][p] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
            }

            clock.Stop();
            var cpu = servers.Select((s, i) => s.CpuSeconds() - cpuBefore[i]).ToArray();
            string report = Report(options, specs, pairs, latencies, cpu, warmupRounds, clock.Elapsed);
            Console.WriteLine(report);
            if (options.Out is { } path)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                await File.WriteAllTextAsync(path, report).ConfigureAwait(false);
                Console.Error.WriteLine($"written: {path}");
            }

            return 0;
        }
        finally
        {
            foreach (var set in sets) await set.DisposeAsync().ConfigureAwait(false);
            foreach (var server in servers) server.Dispose();
        }
    }

    private static string Report(
        ThroughputOptions options, IReadOnlyList<ServerSpec> specs, long pairs, double[][] latencies, double[] cpu, int[] warmupRounds, TimeSpan elapsed)
    {
        var ci = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("# Map-reduce in pairs: two servers, the SDK load, map jobs alternating");
        md.AppendLine();
        md.AppendLine(ci, $"- Command: `dotnet run -c Release --project Gearman.Benchmarks -- pairs {string.Join(' ', options.Arguments)}`");
        md.AppendLine(ci, $"- Run at: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {pairs:N0} pairs of map jobs ({elapsed.TotalSeconds:0.0} s), 1,000 x 16 B chunks each, 1 mapper and 2 reducers per server.");
        md.AppendLine("- Each server has its own SDK set (client, mapper, reducers) in this process; each set warms up as in the throughput harness (at least 64 map jobs, then until the JIT has been quiet for 0.5 s), then map jobs alternate between the servers, the first of each pair alternating too. Server CPU: /proc utime + stime over the alternating part, per map job (a server idles while the other works).");
        md.AppendLine();
        md.AppendLine("| Server | warm-up map jobs | p50 ms | p90 ms | p99 ms | mean ms | map jobs/s (1 / mean) | server CPU ms per map job |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (int i = 0; i < specs.Count; i++)
        {
            var sorted = latencies[i].Order().ToList();
            double mean = sorted.Average();
            md.AppendLine(ci, $"| {specs[i].Name} | {warmupRounds[i]} | {Q(sorted, 0.5):0.00} | {Q(sorted, 0.9):0.00} | {Q(sorted, 0.99):0.00} | {mean:0.00} | {1000 / mean:0.0} | {cpu[i] * 1000 / pairs:0.00} |");
        }

        md.AppendLine();
        var pairRatios = Enumerable.Range(0, (int)pairs).Select(p => latencies[0][p] / latencies[1][p]).Order().ToList();
        var blocks = Enumerable.Range(0, (int)(pairs / BlockPairs))
            .Select(b => latencies[0].Skip(b * BlockPairs).Take(BlockPairs).Sum() / latencies[1].Skip(b * BlockPairs).Take(BlockPairs).Sum())
            .Order().ToList();
        md.AppendLine(ci, $"Speed of {specs[1].Name} relative to {specs[0].Name} (a {specs[0].Name} latency over the {specs[1].Name} latency of the same pair; above 1: {specs[1].Name} faster):");
        md.AppendLine();
        md.AppendLine(ci, $"- mean latency ratio: **{latencies[0].Average() / latencies[1].Average():0.000}**; median of the pairs' ratios: {Q(pairRatios, 0.5):0.000}");
        if (blocks.Count > 0)
        {
            md.AppendLine(ci, $"- over {blocks.Count} blocks of {BlockPairs} pairs: quartiles {Q(blocks, 0.25):0.000} / {Q(blocks, 0.5):0.000} / {Q(blocks, 0.75):0.000}, lowest {blocks[0]:0.000}, highest {blocks[^1]:0.000}");
        }

        md.AppendLine(ci, $"- server CPU per map job, {specs[1].Name} / {specs[0].Name}: {cpu[1] / cpu[0]:0.00}");
        return md.ToString();
    }

    private static double Q(List<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];
}
