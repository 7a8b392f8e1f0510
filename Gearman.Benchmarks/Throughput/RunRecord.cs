namespace Gearman.Benchmarks.Throughput;

/// <summary>How one run ended.</summary>
internal enum RunStatus
{
    Ok,
    Failed,
    FailedToStart,
    Pending,
}

/// <summary>One server under one driver in one round of one scenario, as measured.</summary>
internal sealed record RunRecord(
    Scenario Scenario,
    string Driver,
    string Server,
    int Round,
    RunStatus Status,
    string Message,
    RunMeasurement? Measurement = null,
    double? CpuSeconds = null,
    long RssBefore = 0,
    long RssAfter = 0,
    long PeakRss = 0,
    LoadUsage? Load = null)
{
    public double? JobsPerSecond => Measurement is { Seconds: > 0 } m ? m.Jobs / m.Seconds : null;

    /// <summary>Server CPU seconds per 1,000 measured jobs.</summary>
    public double? CpuPerThousand => CpuSeconds is { } cpu && Measurement is { Jobs: > 0 } m ? cpu / m.Jobs * 1000 : null;

    /// <summary>The load's (clients' and workers') CPU microseconds per measured job.</summary>
    public double? LoadCpuUsPerJob => PerJob(Load?.CpuSeconds * 1e6);

    /// <summary>The load's context switches per measured job.</summary>
    public double? LoadContextSwitchesPerJob => PerJob(Load?.ContextSwitches);

    /// <summary>The load's thread-pool work items per measured job (an in-process .NET load only).</summary>
    public double? LoadWorkItemsPerJob => PerJob(Load?.WorkItems);

    /// <summary>Resident memory the measured jobs added, per job.</summary>
    public double? RssPerJob => Measurement is { Jobs: > 0 } m && Status == RunStatus.Ok ? (double)(RssAfter - RssBefore) / m.Jobs : null;

    private double? PerJob(double? total) => total is { } t && Measurement is { Jobs: > 0 } m ? t / m.Jobs : null;
}
