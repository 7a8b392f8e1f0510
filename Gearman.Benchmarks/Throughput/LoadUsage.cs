namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// What the load (its clients and workers, not the server) used in a measured window: CPU seconds (user + system),
/// context switches (voluntary + involuntary) and thread-pool work items, which only an in-process .NET load has.
/// </summary>
internal sealed record LoadUsage(double CpuSeconds, long ContextSwitches, long? WorkItems = null)
{
    /// <summary>The <c>cpu_us=</c> and <c>csw=</c> figures of a loadgen RESULT or USAGE line.</summary>
    public static LoadUsage Of(LoadGenResult line) => new(line.Long("cpu_us") / 1e6, line.Long("csw"));

    public static LoadUsage operator +(LoadUsage a, LoadUsage b)
        => new(a.CpuSeconds + b.CpuSeconds, a.ContextSwitches + b.ContextSwitches, a.WorkItems + b.WorkItems);

    public static LoadUsage operator -(LoadUsage a, LoadUsage b)
        => new(a.CpuSeconds - b.CpuSeconds, a.ContextSwitches - b.ContextSwitches, a.WorkItems - b.WorkItems);
}
