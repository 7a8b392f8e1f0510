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
    double? LoadCpuSeconds = null,
    long? LoadContextSwitches = null,
    long? LoadWorkItems = null)
{
    public double? JobsPerSecond => Measurement is { Seconds: > 0 } m ? m.Jobs / m.Seconds : null;

    /// <summary>Server CPU seconds per 1,000 measured jobs.</summary>
    public double? CpuPerThousand => CpuSeconds is { } cpu && Measurement is { Jobs: > 0 } m ? cpu / m.Jobs * 1000 : null;

    /// <summary>Resident memory the measured jobs added, per job.</summary>
    public double? RssPerJob => Measurement is { Jobs: > 0 } m && Status == RunStatus.Ok ? (double)(RssAfter - RssBefore) / m.Jobs : null;
}
