namespace Gearman.Reactive.Client;

/// <summary>How one job is submitted. Immutable: derive variants with <c>with</c>.</summary>
public sealed record GearmanJobOptions
{
    /// <summary>The defaults: a normal-priority foreground job with a generated unique ID and no timeout.</summary>
    public static GearmanJobOptions Default { get; } = new();

    /// <summary>The queue the job waits in. Default: <see cref="JobPriority.Normal"/>. Epoch and reduce jobs must be normal.</summary>
    public JobPriority Priority { get; init; } = JobPriority.Normal;

    /// <summary>
    /// The job's unique ID (at most 64 UTF-8 bytes). Jobs of one function with the same unique ID are coalesced by the
    /// server: later submits attach to the running job and receive its remaining events. <c>"-"</c> coalesces on the
    /// payload instead. Default: null, which sends a fresh UUID (as libgearman does), so the job never coalesces.
    /// </summary>
    public string? Unique { get; init; }

    /// <summary>
    /// Whether the job runs detached from this client: the server acknowledges it (a <see cref="TaskEventKind.Created"/>
    /// event with its handle) and the client receives nothing more; poll its status by handle. Default: false.
    /// </summary>
    public bool Background { get; init; }

    /// <summary>
    /// Run the job no earlier than this time (<c>SUBMIT_JOB_EPOCH</c>, whole Unix seconds). Requires
    /// <see cref="Background"/> and normal priority. Default: null (run as soon as a worker is free).
    /// </summary>
    public DateTimeOffset? RunAt { get; init; }

    /// <summary>
    /// The reducer function of a map-reduce job (<c>SUBMIT_REDUCE_JOB</c>): the worker of the submitted function
    /// splits the work, each chunk runs as a job of this function, and the aggregated value completes the job.
    /// At most 512 UTF-8 bytes; requires normal priority and no <see cref="RunAt"/>. Default: null (a plain job).
    /// </summary>
    public string? Reducer { get; init; }

    /// <summary>
    /// How long the whole job may take, from subscribing (or calling the awaitable helpers) to its last event; on
    /// expiry the task ends with <see cref="TimeoutException"/> and detaches (the job itself keeps running on the
    /// server). Default: <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>.
    /// </summary>
    public TimeSpan Timeout { get; init; } = System.Threading.Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Whether to wrap the payload in the trace-context envelope (docs/client.md, Tracing), so that a Gearman.Reactive
    /// worker whose function has <see cref="Worker.GearmanFunctionOptions.TraceContext"/> parents its span with this
    /// task's span. Only for SDK-to-SDK functions: other peers see the envelope as part of the workload. It also
    /// defeats coalescing on the payload (<c>Unique = "-"</c>). Default: false, so the payload goes out unchanged.
    /// </summary>
    public bool TraceContext { get; init; }
}
