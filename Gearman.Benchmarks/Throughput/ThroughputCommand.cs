using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// The end-to-end harness: for each scenario and driver, rounds of fresh servers (gearmand, ours, gearmand, ours, ...)
/// driven with the same load; prints the table and writes it as Markdown plus an SVG chart.
/// </summary>
internal static class ThroughputCommand
{
    public static int Run(string[] args)
    {
        ThroughputOptions options;
        try
        {
            options = ThroughputOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"throughput: {e.Message}");
            return 2;
        }

        if (options.List)
        {
            foreach (var s in Scenario.All) Console.WriteLine($"{s.Id,-12} {s.Title} (full: {s.Jobs:N0} jobs, smoke: {s.SmokeJobs:N0})");
            return 0;
        }

        Console.CancelKeyPress += OnCancelKeyPress;
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            ChildProcesses.Cancel();
        });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => ChildProcesses.KillAll();
        try
        {
            return RunAll(options);
        }
        finally
        {
            ChildProcesses.KillAll();
            Console.CancelKeyPress -= OnCancelKeyPress;
        }
    }

    private static void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        Console.Error.WriteLine("cancelled: stopping every started process");
        ChildProcesses.Cancel();
    }

    private static int RunAll(ThroughputOptions options)
    {
        LoadGen? loadGen = null;
        string? loadGenError = null;
        try
        {
            loadGen = LoadGen.Build();
        }
        catch (InvalidOperationException e)
        {
            loadGenError = e.Message;
            Console.Error.WriteLine($"libgearman load generator unavailable: {e.Message}");
        }

        var drivers = options.Drivers.Select(name => name switch
        {
            LibgearmanDriver.DriverName => (ILoadDriver)new LibgearmanDriver(loadGen, loadGenError),
            SdkDriver.PortableDriverName => new SdkDriver(portable: true),
            _ => new SdkDriver(),
        }).ToList();
        using var backends = new QueueBackends();
        using var certificates = BenchTls.Lifetime();
        var servers = ServerCatalog.CreateAll(options, backends);
        var records = new List<RunRecord>();
        var failedToStart = new Dictionary<string, string>(StringComparer.Ordinal);

        foreach (var scenario in options.Scenarios)
        {
            foreach (var driver in drivers)
            {
                string? pending = driver.Unavailable ?? driver.Unsupported(scenario);
                if (pending is not null)
                {
                    foreach (var server in servers) records.Add(new RunRecord(scenario, driver.Name, server.Name, 0, RunStatus.Pending, pending));
                    Console.Error.WriteLine($"{scenario.Id} / {driver.Name}: {pending}");
                    continue;
                }

                long jobs = scenario.JobsFor(options.Smoke, options.Scale);
                var run = new ScenarioRun(scenario, jobs, scenario.WarmupFor(options.Smoke, jobs), options.PhaseTimeout, SettleJit: !options.Smoke);
                for (int round = 1; round <= scenario.RoundsFor(options.Runs); round++)
                {
                    foreach (var server in servers)
                    {
                        if (ChildProcesses.Cancelled) return Finish(options, records, servers, cancelled: true);
                        if (failedToStart.ContainsKey(server.Name)) continue;
                        var record = RunOne(run, round, driver, server, loadGen);
                        if (ChildProcesses.Cancelled) return Finish(options, records, servers, cancelled: true);
                        if (record.Status == RunStatus.FailedToStart) failedToStart[server.Name] = record.Message;
                        records.Add(record);
                        Console.Error.WriteLine(Progress(record));
                    }
                }
            }
        }

        return Finish(options, records, servers, cancelled: false);
    }

    private static RunRecord RunOne(ScenarioRun run, int round, ILoadDriver driver, ServerSpec spec, LoadGen? loadGen)
    {
        RunningServer server;
        try
        {
            server = RunningServer.Start(spec, loadGen);
        }
        catch (ServerStartException e)
        {
            return new RunRecord(run.Scenario, driver.Name, spec.Name, round, RunStatus.FailedToStart, e.Message);
        }
        catch (OperationCanceledException)
        {
            return new RunRecord(run.Scenario, driver.Name, spec.Name, round, RunStatus.Failed, "cancelled");
        }

        using (server)
        {
            var window = new MeasurementWindow(server, loadInProcess: driver is SdkDriver);
            try
            {
                var m = driver.Run(run, server, window);
                if (window.CpuSeconds is not { } cpu) throw new LoadException($"driver {driver.Name} did not close its measurement window");
                // An in-process load (the SDK) is this process: its CPU and context switches in the window are the load's.
                // A load of other processes (libgearman's loadgen) reports its own figures in the measurement.
                var load = driver is SdkDriver ? window.Self : m.Load;
                // Any load that did jobs used CPU: none, or a negative difference, means the measurement is broken (the smoke run in CI catches it).
                if (load is { CpuSeconds: <= 0 } or { ContextSwitches: < 0 } or { WorkItems: < 0 })
                {
                    throw new LoadException($"driver {driver.Name} measured an impossible load usage: {load}");
                }

                m = m with { Notes = WarmupNote(m.Notes, window) };
                return new RunRecord(
                    run.Scenario, driver.Name, spec.Name, round, RunStatus.Ok, string.Empty, m, cpu, window.RssBefore, window.RssAfter, window.PeakRss, load);
            }
            catch (LoadException e)
            {
                return new RunRecord(run.Scenario, driver.Name, spec.Name, round, RunStatus.Failed, e.Message);
            }
            catch (OperationCanceledException)
            {
                return new RunRecord(run.Scenario, driver.Name, spec.Name, round, RunStatus.Failed, "cancelled");
            }
        }
    }

    /// <summary>The warm-up rounds, and any background JIT left in the window (which the warm-up is there to prevent).</summary>
    private static string WarmupNote(string notes, MeasurementWindow window)
    {
        if (window.WarmupRounds == 0) return notes;
        string rounds = window.WarmupRounds == 1 ? "1 round" : $"{window.WarmupRounds} rounds";
        string warmup = window.JitSecondsInWindow > 0
            ? $"warm-up {rounds}, JIT {window.JitSecondsInWindow:0.00} s in the window"
            : $"warm-up {rounds}";
        return notes.Length > 0 ? $"{notes}; {warmup}" : warmup;
    }

    private static int Finish(ThroughputOptions options, List<RunRecord> records, IReadOnlyList<ServerSpec> servers, bool cancelled)
    {
        var machine = Machine(options, servers);
        var report = new Report(options, [.. servers.Select(s => s.Name)], ServerCatalog.Pairs(options), records, machine, CommandLine(options));
        Console.WriteLine();
        Console.WriteLine(report.Summary());
        if (cancelled)
        {
            Console.Error.WriteLine("cancelled: partial results above, nothing written");
            return 130;
        }

        string md = OutputPath(options);
        string svg = Path.ChangeExtension(md, ".svg");
        Directory.CreateDirectory(Path.GetDirectoryName(md)!);
        string? chart = report.Chart();
        if (chart is not null) File.WriteAllText(svg, chart);
        File.WriteAllText(md, report.Markdown(chart is null ? null : Path.GetFileName(svg)));
        Console.WriteLine(chart is null ? $"written: {md}" : $"written: {md}, {svg}");

        // Failures fail the invocation (CI runs --smoke); pending drivers do not.
        int failed = records.Count(r => r.Status is RunStatus.Failed or RunStatus.FailedToStart);
        if (failed > 0) Console.Error.WriteLine($"{failed} run(s) failed or could not start a server");
        return failed > 0 ? 1 : 0;
    }

    private static string Progress(RunRecord r)
    {
        string what = $"{r.Scenario.Id} / {r.Driver} / {r.Server} #{r.Round}";
        if (r.Status != RunStatus.Ok) return $"{what}: {(r.Status == RunStatus.FailedToStart ? "failed to start" : "failed")}: {r.Message}";
        var m = r.Measurement!;
        string latency = m.P50Us is { } p50 && m.P99Us is { } p99 ? string.Create(CultureInfo.InvariantCulture, $", p50 {p50 / 1000:0.000} ms, p99 {p99 / 1000:0.000} ms") : string.Empty;
        string load = r.Load is { } lu && m.Jobs > 0
            ? string.Create(CultureInfo.InvariantCulture, $", load CPU {lu.CpuSeconds:0.00} s ({r.LoadCpuUsPerJob:0} µs/job), {r.LoadContextSwitchesPerJob:0.0} context switches/job")
                + (r.LoadWorkItemsPerJob is { } wi ? string.Create(CultureInfo.InvariantCulture, $", {wi:0.0} thread-pool work items/job") : string.Empty)
            : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"{what}: {m.Jobs:N0} jobs in {m.Seconds:0.000} s = {r.JobsPerSecond:N0} jobs/s{latency}, server CPU {r.CpuSeconds:0.00} s, RSS {r.RssBefore / 1048576.0:0.0} -> {r.RssAfter / 1048576.0:0.0} MiB{load}");
    }

    private static string OutputPath(ThroughputOptions options)
    {
        if (options.Out is { } given) return Path.GetFullPath(given);
        string root = RepositoryRoot() ?? Directory.GetCurrentDirectory();
        return options.Smoke ? Path.Combine(root, ".artifacts", "throughput-smoke.md") : Path.Combine(root, "docs", "benchmarks", "server-and-sdk.md");
    }

    private static string? RepositoryRoot()
    {
        foreach (var start in (string[])[Directory.GetCurrentDirectory(), AppContext.BaseDirectory])
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Gearman.sln"))) return dir.FullName;
            }
        }

        return null;
    }

    private static string CommandLine(ThroughputOptions options)
        => string.Join(' ', ((string[])["dotnet", "run", "-c", "Release", "--project", "Gearman.Benchmarks", "--", "throughput"]).Concat(options.Arguments.Select(Quote)));

    private static string Quote(string arg) => arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "-_.,/=:".Contains(c)) ? arg : $"'{arg}'";

    private static MachineInfo Machine(ThroughputOptions options, IReadOnlyList<ServerSpec> servers)
    {
        string cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException)
        {
        }

        return new MachineInfo(
            cpu,
            Environment.ProcessorCount,
            RuntimeInformation.OSDescription,
            RuntimeInformation.FrameworkDescription,
            GearmandVersion(options.GearmandPath),
            servers.ToDictionary(s => s.Name, s => WithoutMachinePaths(s.Description)));
    }

    /// <summary>
    /// A server's command line as a reader can run it: the repository root becomes <c>.</c> and the temporary folder
    /// <c>&lt;tmp&gt;</c>, so reports committed under docs/ name no paths of the machine that wrote them.
    /// </summary>
    internal static string WithoutMachinePaths(string command)
    {
        if (RepositoryRoot() is { } root) command = command.Replace(root + Path.DirectorySeparatorChar, "./", StringComparison.Ordinal);
        string temp = Path.GetTempPath();
        return command.Replace(temp, "<tmp>" + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    private static string GearmandVersion(string path)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(path, "--version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            string text = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return text.Split(" - ")[0];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return $"{path} not found";
        }
    }
}
