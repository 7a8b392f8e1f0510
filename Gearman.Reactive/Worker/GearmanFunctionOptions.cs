namespace Gearman.Reactive.Worker;

/// <summary>
/// How a function is registered and how many of its jobs the worker holds at once. Immutable: change a copy with
/// <c>with</c>, starting from <see cref="Default"/>.
/// </summary>
public sealed record GearmanFunctionOptions
{
    /// <summary>The defaults: no timeout, one job at a time.</summary>
    public static GearmanFunctionOptions Default { get; } = new();

    /// <summary>
    /// The job timeout registered with <c>CAN_DO_TIMEOUT</c>; null registers with <c>CAN_DO</c> and no timeout. When a job
    /// runs longer, the server gives it to another worker and this worker's <see cref="GearmanJob.CancellationToken"/> for
    /// it fires. Servers round timeouts under one second up to one second, and so does the worker. Default: null.
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// The most jobs of this registration in flight at once: grabbed from a server and not yet ended. The worker grabs
    /// only while fewer are in flight, so this is the back-pressure bound; it is also the <c>BoundedCapacity</c> of the
    /// block that <see cref="GearmanWorker.AddFunction(string, Func{GearmanJob, CancellationToken, ValueTask{ReadOnlyMemory{byte}}}, GearmanFunctionOptions)"/>
    /// builds and of the source that <see cref="GearmanWorker.Jobs(string, GearmanFunctionOptions)"/> returns. Default: 1.
    /// </summary>
    public int BoundedCapacity { get; init; } = 1;

    /// <summary>
    /// How many handlers run at once in the block that <c>AddFunction</c> builds (its <c>MaxDegreeOfParallelism</c>); at
    /// most <see cref="BoundedCapacity"/> run in practice. Ignored by <c>Jobs</c>, whose consumer sets its own. Default: 1.
    /// </summary>
    public int MaxDegreeOfParallelism { get; init; } = 1;

    /// <summary>
    /// Whether jobs may carry the trace-context envelope (docs/worker.md, Tracing): a workload that starts with it is
    /// stripped before the handler sees it and the handler's span becomes a child of the client's; other workloads pass
    /// unchanged, so plain peers can still call the function. Default: false (workloads are never inspected).
    /// </summary>
    public bool TraceContext { get; init; }
}
