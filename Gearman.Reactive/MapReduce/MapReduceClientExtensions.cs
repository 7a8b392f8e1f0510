using Gearman.Reactive.Client;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.MapReduce;

/// <summary>
/// Submits map-reduce jobs (<c>SUBMIT_REDUCE_JOB</c>): the job goes to the <em>mapper</em> function, whose worker splits
/// it into chunks, runs one job of the <em>reducer</em> function per chunk and aggregates their results into the job's
/// result. The client only names both functions; the server stores the reducer and hands it to the mapper's worker.
/// These are shorthands for <see cref="GearmanClient"/>'s methods with <see cref="GearmanJobOptions.Reducer"/> set.
/// </summary>
public static class MapReduceClientExtensions
{
    /// <summary>
    /// Describes a map-reduce job as a cold observable, like <see cref="GearmanClient.Submit"/>: each subscription submits
    /// it (<c>SUBMIT_REDUCE_JOB</c>, or <c>SUBMIT_REDUCE_JOB_BACKGROUND</c> with <see cref="GearmanJobOptions.Background"/>).
    /// The mapper's worker sends no data chunks for a map job, so a foreground job yields
    /// <see cref="TaskEventKind.Created"/>, any status and warning events, then <see cref="TaskEventKind.Completed"/> with
    /// the aggregated result. A failed reducer job fails the whole job (<see cref="GearmanJobFailedException"/>).
    /// </summary>
    /// <param name="client">The client.</param>
    /// <param name="mapper">The function that splits the job (the one the server queues).</param>
    /// <param name="reducer">The function each chunk is submitted to (at most 512 UTF-8 bytes).</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Unique ID, background, timeout (priority must be normal; no <see cref="GearmanJobOptions.RunAt"/>); its <see cref="GearmanJobOptions.Reducer"/> is replaced.</param>
    /// <exception cref="ArgumentException">An argument is invalid.</exception>
    public static IObservable<TaskEvent> SubmitReduce(this GearmanClient client, string mapper, string reducer, ReadOnlyMemory<byte> payload, GearmanJobOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.Submit(mapper, payload, WithReducer(reducer, options));
    }

    /// <summary>
    /// Runs a map-reduce job and returns its aggregated result: libgearman's <c>gearman_execute_by_partition</c>. As with
    /// <see cref="GearmanClient.ExecuteAsync"/>, the result is any data chunks followed by the completion payload; a map
    /// job sends only the latter. A mapper without an aggregator gives an empty result.
    /// </summary>
    /// <param name="client">The client.</param>
    /// <param name="mapper">The function that splits the job.</param>
    /// <param name="reducer">The function each chunk is submitted to.</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Job options; must not be background (use <see cref="SubmitReduceBackgroundAsync"/>).</param>
    /// <param name="progress">Receives the mapper's <c>WORK_STATUS</c> reports, if given.</param>
    /// <param name="cancellationToken">Detaches from the job (which keeps running) and throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="GearmanJobFailedException">The mapper failed the job, or a reducer job failed.</exception>
    /// <exception cref="GearmanJobException">The mapper or the aggregator raised an exception; its message is in the exception.</exception>
    /// <exception cref="GearmanServerErrorException">The server refused the job.</exception>
    /// <exception cref="GearmanConnectionException">No server could take the job, or its server was lost while it ran.</exception>
    /// <exception cref="TimeoutException"><see cref="GearmanJobOptions.Timeout"/> expired.</exception>
    public static ValueTask<ReadOnlyMemory<byte>> ExecuteReduceAsync(
        this GearmanClient client,
        string mapper,
        string reducer,
        ReadOnlyMemory<byte> payload,
        GearmanJobOptions? options = null,
        IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.ExecuteAsync(mapper, payload, WithReducer(reducer, options), progress, cancellationToken);
    }

    /// <summary>
    /// Submits a background map-reduce job (<c>SUBMIT_REDUCE_JOB_BACKGROUND</c>) and returns its handle once the server
    /// has accepted it. Nobody receives the aggregated result; poll the status by handle.
    /// </summary>
    /// <param name="client">The client.</param>
    /// <param name="mapper">The function that splits the job.</param>
    /// <param name="reducer">The function each chunk is submitted to.</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Job options: unique ID, timeout.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement (the job may still have been queued).</param>
    public static ValueTask<JobHandle> SubmitReduceBackgroundAsync(
        this GearmanClient client,
        string mapper,
        string reducer,
        ReadOnlyMemory<byte> payload,
        GearmanJobOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.SubmitBackgroundAsync(mapper, payload, WithReducer(reducer, options), cancellationToken);
    }

    private static GearmanJobOptions WithReducer(string reducer, GearmanJobOptions? options)
    {
        ArgumentException.ThrowIfNullOrEmpty(reducer);
        PacketArgument.ThrowIfContainsNul(reducer, nameof(reducer), "A reducer name");
        return (options ?? GearmanJobOptions.Default) with { Reducer = reducer };
    }
}
