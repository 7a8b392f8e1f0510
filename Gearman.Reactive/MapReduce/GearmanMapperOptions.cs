using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;

namespace Gearman.Reactive.MapReduce;

/// <summary>
/// How a mapper (<see cref="MapReduceWorkerExtensions.AddMapper"/>) is registered and how it fans its chunks out to
/// reducer jobs. Immutable: change a copy with <c>with</c>, starting from <see cref="Default"/>.
/// </summary>
public sealed record GearmanMapperOptions
{
    /// <summary>The defaults: one map job at a time, no timeout, at most 16 reducer jobs in flight per map job.</summary>
    public static GearmanMapperOptions Default { get; } = new();

    /// <summary>
    /// The most map jobs this registration runs at once (each grabbed and not yet ended); see
    /// <see cref="GearmanFunctionOptions.BoundedCapacity"/>. Each runs its own fan-out. Default: 1.
    /// </summary>
    public int BoundedCapacity { get; init; } = 1;

    /// <summary>
    /// The map job timeout registered with <c>CAN_DO_TIMEOUT</c> (see <see cref="GearmanFunctionOptions.Timeout"/>); it
    /// covers the whole fan-out. When it expires, the server gives the map job to another worker and this one detaches
    /// from its reducer jobs. Default: null (none).
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// The most reducer jobs one map job has in flight (submitted and not yet finished) at once. The mapper is asked for
    /// further chunks only while there is room, so a map job holds at most <c>2 × MaxReducerJobs + 2</c> chunks and
    /// results in memory, however many chunks it emits. Results are released in chunk order: a slow reducer job holds
    /// back the ones after it, and once that window is full, further submissions wait for it. Default: 16.
    /// </summary>
    public int MaxReducerJobs { get; init; } = 16;

    /// <summary>
    /// How long one reducer job may take, from its submission to its result; on expiry the map job fails as if the
    /// reducer job had failed. Default: <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>.
    /// </summary>
    public TimeSpan ReducerTimeout { get; init; } = System.Threading.Timeout.InfiniteTimeSpan;

    /// <summary>
    /// The client that submits the reducer jobs. Null (the default) gives each map job a private client built from the
    /// worker's options (same servers, client ID, timeouts and logging), as libgearman does, closed when the map job
    /// ends. Set a shared client to save a connection per map job; its owner disposes it.
    /// </summary>
    public GearmanClient? ReducerClient { get; init; }
}
