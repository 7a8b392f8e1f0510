using System.Globalization;
using System.Text;

namespace Gearman.Benchmarks.Throughput;

/// <summary>The results as Markdown (summary, memory, method, raw runs) and as an SVG chart.</summary>
internal sealed class Report(ThroughputOptions options, IReadOnlyList<string> servers, IReadOnlyList<ServerPair> pairs, IReadOnlyList<RunRecord> records, MachineInfo machine, string command)
{
    private static readonly CultureInfo Ic = CultureInfo.InvariantCulture;

    /// <summary>Server names (table columns) in round order.</summary>
    private IReadOnlyList<string> Servers => servers;

    /// <summary>Rows of the summary: every scenario and driver that has records, in run order.</summary>
    private IEnumerable<(Scenario Scenario, string Driver)> Rows
        => records.Select(r => (r.Scenario, r.Driver)).Distinct();

    /// <summary>The summary tables, as printed on the console.</summary>
    public string Summary()
    {
        var md = new StringBuilder();
        AppendStoreTable(md);
        AppendThroughputTable(md);
        AppendDriverTable(md);
        AppendMemoryTable(md);
        return md.ToString();
    }

    public string Markdown(string? chartFileName)
    {
        var md = new StringBuilder();
        md.AppendLine("# Throughput: our server and gearmand");
        md.AppendLine();
        md.AppendLine("Written by the throughput harness of Gearman.Benchmarks; see docs/benchmarks.md for how to read it.");
        md.AppendLine();
        md.AppendLine(Ic, $"- Command: `{command}`");
        md.AppendLine(Ic, $"- Run at: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC{(options.Smoke ? " (smoke run: tiny counts, not a measurement)" : string.Empty)}");
        md.AppendLine(Ic, $"- Machine: {machine.Cpu}, {machine.Cores} cores, {machine.Os}; {machine.Dotnet}; {machine.Gearmand}");
        md.AppendLine(Ic, $"- Servers: {string.Join("; ", machine.ServerCommands.Select(kv => $"{kv.Key}: `{kv.Value}`"))}");
        md.AppendLine(Ic, $"- Rounds: {options.Runs} per scenario (memory: 1), each round running every server in turn ({string.Join(", ", Servers)}), a fresh server on a fresh loopback port for every run; figures are medians over the rounds. Job-count scale: {options.Scale.ToString(Ic)}.");
        md.AppendLine();
        if (options.Stores is not null && Rows.Any(r => r.Scenario.Kind != ScenarioKind.Memory))
        {
            md.AppendLine("## Jobs per second per queue store");
            md.AppendLine();
            AppendStoreTable(md);
        }

        if (Rows.Any(r => r.Scenario.Kind != ScenarioKind.Memory))
        {
            md.AppendLine("## Jobs per second, latency, server CPU");
            md.AppendLine();
            AppendThroughputTable(md);
            if (chartFileName is not null)
            {
                md.AppendLine(Ic, $"![jobs per second, per scenario]({chartFileName})");
                md.AppendLine();
            }
        }

        if (DriverScenarios.Any())
        {
            md.AppendLine("## SDK against libgearman");
            md.AppendLine();
            AppendDriverTable(md);
        }

        if (Rows.Any(r => r.Scenario.Kind == ScenarioKind.Memory))
        {
            md.AppendLine("## Memory");
            md.AppendLine();
            AppendMemoryTable(md);
        }

        md.AppendLine("## Method");
        md.AppendLine();
        md.AppendLine("- Foreground: workers echo the payload; clients wait for each job (batch 1: `gearman_client_do` in a loop) or for each pipelined batch (`add_task` x N, then `run_tasks`). jobs/s = jobs / wall time of the clients; latency = submit to WORK_COMPLETE at the client.");
        md.AppendLine("- Background: workers that stop after exactly N jobs start first; one submitter pipelines N background jobs in batches of 100, each stamped with its submit time. jobs/s = N / (last job done - first job submitted); latency = submit to done at the worker, so it includes queueing behind the burst.");
        md.AppendLine("- Map-reduce: `gearman_execute_by_partition` to a libgearman partition function that splits its workload into 1,000 chunks, each a reducer job on the echo workers; jobs/s and latency count map-reduce jobs, each of which is 1,001 jobs on the server.");
        md.AppendLine("- Memory: N background jobs are queued with no worker registered; RSS is the server's VmRSS (from /proc) before and after.");
        md.AppendLine("- Warm-up: rounds of 10% of the jobs (at least 100, at most 2,000; one map job for map-reduce), repeated until the .NET background JIT (the tiered-compilation thread) of the server, and of the harness for the SDK load, has been idle for the last 0.5 s of them (at most 10 s; gearmand and loadgen have none, so they get the 0.5 s minimum), and for map-reduce at least 64 rounds, because each map job opens a connection and the runtime recompiles the server's once-per-connection code only after about 30 of them. The raw runs give the rounds, and the JIT's CPU if any was left in the window.");
        md.AppendLine("- Server CPU: utime + stime of the server process from /proc/PID/stat around the measured part only (warm-up excluded); per 1,000 measured jobs.");
        md.AppendLine("- Load CPU: user + system CPU of the load (its clients and workers, not the server) in the measured part, per measured job. sdk: the harness process, which runs the SDK load, around the measured part (`Environment.CpuUsage`), with the context switches of its threads (/proc/self/task/*/status) and its completed thread-pool work items. libgearman: getrusage of the loadgen processes, each reporting its own: the clients over their timed loop, the workers as the difference of their totals at the start and the end of the measured part; work items do not apply (-).");
        md.AppendLine("- Ratios are ours / gearmand: above 1 means ours is faster (jobs/s) or uses more (CPU, latency, memory). In the SDK against libgearman table they are sdk / libgearman on the same server: above 1 means the SDK is faster (jobs/s) or uses more CPU per job.");
        md.AppendLine();
        md.AppendLine("## Raw runs");
        md.AppendLine();
        md.AppendLine("| Scenario | Load | Server | Round | Jobs | Seconds | Jobs/s | p50 ms | p99 ms | Server CPU s | RSS before -> after MiB | Load CPU µs/job | Load context switches/job | Load work items/job | Status |");
        md.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in records)
        {
            var m = r.Measurement;
            md.AppendLine(Ic, $"| {r.Scenario.Id} | {r.Driver} | {r.Server} | {r.Round} | {Num(m?.Jobs)} | {Fixed(m?.Seconds, 3)} | {Num(r.JobsPerSecond)} | {Ms(m?.P50Us)} | {Ms(m?.P99Us)} | {Fixed(r.CpuSeconds, 2)} | {Rss(r)} | {PerJob(r.LoadCpuUsPerJob)} | {PerJob(r.LoadContextSwitchesPerJob)} | {PerJob(r.LoadWorkItemsPerJob)} | {Cell(StatusText(r))} |");
        }

        return md.ToString();
    }

    /// <summary>The SVG chart, or null when no scenario has a figure to plot.</summary>
    public string? Chart()
    {
        var groups = Rows
            .Where(row => row.Scenario.Kind != ScenarioKind.Memory && Servers.Any(s => Ok(row, s).Any()))
            .Select(row => (
                $"{row.Scenario.Id} ({row.Driver})",
                (IReadOnlyList<(double? Value, string Missing)>)Servers
                    .Select(s => (Median(Ok(row, s), r => r.JobsPerSecond), Figure(row, s, _ => null, _ => "no figure")))
                    .ToList()))
            .ToList();
        return groups.Count == 0 ? null : SvgChart.Render("Jobs per second: ours and gearmand", Servers, groups);
    }

    private void AppendThroughputTable(StringBuilder md)
    {
        var head = new StringBuilder("| Scenario | Load | Jobs per run |");
        var rule = new StringBuilder("|---|---|---:|");
        foreach (var s in Servers)
        {
            head.Append(Ic, $" {s} jobs/s |");
            rule.Append("---:|");
        }

        AppendRatioHeaders("jobs/s");
        foreach (var s in Servers)
        {
            head.Append(Ic, $" {s} p50 / p99 ms |");
            rule.Append("---:|");
        }

        foreach (var s in Servers)
        {
            head.Append(Ic, $" {s} CPU s / 1k jobs |");
            rule.Append("---:|");
        }

        AppendRatioHeaders("CPU");
        md.AppendLine(head.ToString());
        md.AppendLine(rule.ToString());

        foreach (var row in Rows.Where(r => r.Scenario.Kind != ScenarioKind.Memory))
        {
            var line = new StringBuilder().Append(Ic, $"| {Cell(row.Scenario.Title)} | {row.Driver} | {JobsPerRun(row)} |");
            foreach (var s in Servers) line.Append(Ic, $" {Figure(row, s, r => r.JobsPerSecond, Num)} |");
            foreach (var pair in pairs) line.Append(Ic, $" {Ratio(row, pair, r => r.JobsPerSecond)} |");
            foreach (var s in Servers) line.Append(Ic, $" {Figure(row, s, r => r.Measurement?.P50Us, _ => $"{Ms(Median(Ok(row, s), r => r.Measurement?.P50Us))} / {Ms(Median(Ok(row, s), r => r.Measurement?.P99Us))}")} |");
            foreach (var s in Servers) line.Append(Ic, $" {Figure(row, s, r => r.CpuPerThousand, v => Fixed(v, 3))} |");
            foreach (var pair in pairs) line.Append(Ic, $" {Ratio(row, pair, r => r.CpuPerThousand)} |");
            md.AppendLine(line.ToString());
        }

        md.AppendLine();

        void AppendRatioHeaders(string what)
        {
            foreach (var pair in pairs)
            {
                head.Append(Ic, $" {pair.Ours}/{pair.Gearmand} {what} |");
                rule.Append("---:|");
            }
        }
    }

    /// <summary>Scenarios (not memory) that ran with both the libgearman and the SDK load, in run order.</summary>
    private IEnumerable<Scenario> DriverScenarios
        => Rows.Where(r => r.Scenario.Kind != ScenarioKind.Memory).GroupBy(r => r.Scenario)
            .Where(g => g.Any(r => r.Driver == LibgearmanDriver.DriverName) && g.Any(r => r.Driver == SdkDriver.DriverName))
            .Select(g => g.Key);

    /// <summary>
    /// One line per scenario and server: the SDK load against the libgearman load on the same server, in jobs/s and in
    /// the load's own CPU per job (issue 17's criteria), with the context switches and work items behind them.
    /// </summary>
    private void AppendDriverTable(StringBuilder md)
    {
        const string C = LibgearmanDriver.DriverName, S = SdkDriver.DriverName;
        var scenarios = DriverScenarios.ToList();
        if (scenarios.Count == 0) return;
        md.AppendLine(Ic, $"| Scenario | Server | {C} jobs/s | {S} jobs/s | {S}/{C} jobs/s | {C} load CPU µs/job | {S} load CPU µs/job | {S}/{C} load CPU | {C} context switches/job | {S} context switches/job | {S} work items/job |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var scenario in scenarios)
        {
            (Scenario, string) c = (scenario, C), s = (scenario, S);
            foreach (var server in Servers)
            {
                md.AppendLine(Ic, $"| {Cell(scenario.Title)} | {server} | {Figure(c, server, r => r.JobsPerSecond, Num)} | {Figure(s, server, r => r.JobsPerSecond, Num)} | {DriverRatio(scenario, server, r => r.JobsPerSecond)} | {Figure(c, server, r => r.LoadCpuUsPerJob, PerJob)} | {Figure(s, server, r => r.LoadCpuUsPerJob, PerJob)} | {DriverRatio(scenario, server, r => r.LoadCpuUsPerJob)} | {Figure(c, server, r => r.LoadContextSwitchesPerJob, PerJob)} | {Figure(s, server, r => r.LoadContextSwitchesPerJob, PerJob)} | {Figure(s, server, r => r.LoadWorkItemsPerJob, PerJob)} |");
            }
        }

        md.AppendLine();
    }

    /// <summary>
    /// Under <c>--stores</c>: one line per scenario, load and store, gearmand beside ours with the same kind of queue
    /// (builtin / memory, libsqlite3 / sqlite, postgres / postgres).
    /// </summary>
    private void AppendStoreTable(StringBuilder md)
    {
        if (options.Stores is null || pairs.Count == 0) return;
        md.AppendLine("| Scenario | Load | Jobs per run | ours queue | gearmand queue | gearmand jobs/s | ours jobs/s | ours/gearmand jobs/s | gearmand p50 / p99 ms | ours p50 / p99 ms | gearmand CPU s / 1k jobs | ours CPU s / 1k jobs |");
        md.AppendLine("|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in Rows.Where(r => r.Scenario.Kind != ScenarioKind.Memory))
        {
            foreach (var pair in pairs)
            {
                md.AppendLine(Ic, $"| {Cell(row.Scenario.Title)} | {row.Driver} | {JobsPerRun(row)} | {pair.OurQueue} | {pair.GearmandQueue} | {Figure(row, pair.Gearmand, r => r.JobsPerSecond, Num)} | {Figure(row, pair.Ours, r => r.JobsPerSecond, Num)} | {Ratio(row, pair, r => r.JobsPerSecond)} | {Latency(row, pair.Gearmand)} | {Latency(row, pair.Ours)} | {Figure(row, pair.Gearmand, r => r.CpuPerThousand, v => Fixed(v, 3))} | {Figure(row, pair.Ours, r => r.CpuPerThousand, v => Fixed(v, 3))} |");
            }
        }

        md.AppendLine();
    }

    private string Latency((Scenario Scenario, string Driver) row, string server)
        => Figure(row, server, r => r.Measurement?.P50Us, _ => $"{Ms(Median(Ok(row, server), r => r.Measurement?.P50Us))} / {Ms(Median(Ok(row, server), r => r.Measurement?.P99Us))}");

    private void AppendMemoryTable(StringBuilder md)
    {
        var rows = Rows.Where(r => r.Scenario.Kind == ScenarioKind.Memory).ToList();
        if (rows.Count == 0) return;
        var head = new StringBuilder("| Scenario | Load | Jobs queued |");
        var rule = new StringBuilder("|---|---|---:|");
        foreach (var s in Servers)
        {
            head.Append(Ic, $" {s} RSS idle -> queued MiB | {s} bytes / job | {s} submit jobs/s |");
            rule.Append("---:|---:|---:|");
        }

        foreach (var pair in pairs)
        {
            head.Append(Ic, $" {pair.Ours}/{pair.Gearmand} RSS queued |");
            rule.Append("---:|");
        }

        md.AppendLine(head.ToString());
        md.AppendLine(rule.ToString());
        foreach (var row in rows)
        {
            var line = new StringBuilder().Append(Ic, $"| {Cell(row.Scenario.Title)} | {row.Driver} | {JobsPerRun(row)} |");
            foreach (var s in Servers)
            {
                string rss = Figure(row, s, r => r.RssAfter, _ => $"{Mib(Median(Ok(row, s), r => r.RssBefore))} -> {Mib(Median(Ok(row, s), r => r.RssAfter))}");
                string perJob = Figure(row, s, r => r.RssPerJob, v => Fixed(v, 0));
                string rate = Figure(row, s, r => r.JobsPerSecond, Num);
                line.Append(Ic, $" {rss} | {perJob} | {rate} |");
            }

            foreach (var pair in pairs) line.Append(Ic, $" {Ratio(row, pair, r => r.RssAfter)} |");
            md.AppendLine(line.ToString());
        }

        md.AppendLine();
    }

    /// <summary>Measured jobs per run (they differ from the title under --smoke or --scale).</summary>
    private string JobsPerRun((Scenario Scenario, string Driver) row)
        => Num(row.Scenario.JobsFor(options.Smoke, options.Scale));

    private IEnumerable<RunRecord> Ok((Scenario Scenario, string Driver) row, string server)
        => records.Where(r => r.Scenario == row.Scenario && r.Driver == row.Driver && r.Server == server && r.Status == RunStatus.Ok);

    /// <summary>The median figure of a server's good runs, or why there is none.</summary>
    private string Figure((Scenario Scenario, string Driver) row, string server, Func<RunRecord, double?> select, Func<double?, string> format)
    {
        var ok = Ok(row, server).ToList();
        if (ok.Count > 0) return format(Median(ok, select));
        var any = records.FirstOrDefault(r => r.Scenario == row.Scenario && r.Driver == row.Driver && r.Server == server && r.Status != RunStatus.Ok)
            ?? records.FirstOrDefault(r => r.Server == server && r.Status == RunStatus.FailedToStart);
        return any is null ? "not run" : any.Status switch
        {
            RunStatus.FailedToStart => "failed to start",
            RunStatus.Pending => "pending",
            _ => "failed",
        };
    }

    private string Ratio((Scenario Scenario, string Driver) row, ServerPair pair, Func<RunRecord, double?> select)
        => RatioText(Median(Ok(row, pair.Ours), select), Median(Ok(row, pair.Gearmand), select));

    /// <summary>The SDK's median over the libgearman load's median on one server.</summary>
    private string DriverRatio(Scenario scenario, string server, Func<RunRecord, double?> select)
        => RatioText(Median(Ok((scenario, SdkDriver.DriverName), server), select), Median(Ok((scenario, LibgearmanDriver.DriverName), server), select));

    private static string RatioText(double? numerator, double? denominator)
        => numerator is { } n && denominator is > 0 ? (n / denominator.Value).ToString("0.00", Ic) : "-";

    private static double? Median(IEnumerable<RunRecord> runs, Func<RunRecord, double?> select)
    {
        var values = runs.Select(select).Where(v => v is not null).Select(v => v!.Value).Order().ToList();
        if (values.Count == 0) return null;
        int mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }

    private static string StatusText(RunRecord r) => r.Status switch
    {
        RunStatus.Ok => r.Measurement?.Notes is { Length: > 0 } notes ? $"ok; {notes}" : "ok",
        RunStatus.FailedToStart => $"failed to start: {r.Message}",
        RunStatus.Pending => r.Message,
        _ => $"failed: {r.Message}",
    };

    private static string Rss(RunRecord r) => r.Status == RunStatus.Ok ? $"{Mib(r.RssBefore)} -> {Mib(r.RssAfter)}" : "-";

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ");

    private static string Num(double? v) => v is { } d ? d.ToString("N0", Ic) : "-";

    private static string Fixed(double? v, int digits) => v is { } d ? d.ToString("F" + digits.ToString(Ic), Ic) : "-";

    /// <summary>A per-job figure: one decimal, or whole numbers once large (a map-reduce job is 1,001 jobs).</summary>
    private static string PerJob(double? v) => v is >= 1000 ? Num(v) : Fixed(v, 1);

    private static string Ms(double? us) => us is { } u ? (u / 1000).ToString(u < 10_000 ? "0.000" : "0.0", Ic) : "-";

    private static string Mib(double? bytes) => bytes is { } b ? (b / (1024 * 1024)).ToString("0.0", Ic) : "-";
}

/// <summary>What the report says about the machine and the servers.</summary>
internal sealed record MachineInfo(string Cpu, int Cores, string Os, string Dotnet, string Gearmand, IReadOnlyDictionary<string, string> ServerCommands);
