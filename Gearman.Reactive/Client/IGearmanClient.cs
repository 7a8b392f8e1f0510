namespace Gearman.Reactive.Client;

/// <summary>
/// What a <see cref="GearmanClient"/> does, as an interface: inject it, and replace it with a fake in tests. The typed
/// entry points (<c>Gearman.Reactive.Serialization.TypedClientExtensions</c>) extend this interface, so they work
/// with fakes too. Members behave exactly as the <see cref="GearmanClient"/> members of the same name.
/// </summary>
public interface IGearmanClient : IAsyncDisposable
{
    /// <summary>Describes a job as a cold observable of its events: see <see cref="GearmanClient.Submit"/>.</summary>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Job options; default <see cref="GearmanJobOptions.Default"/>.</param>
    /// <returns>The job's events; each subscription submits it once.</returns>
    IObservable<TaskEvent> Submit(string function, ReadOnlyMemory<byte> payload, GearmanJobOptions? options = null);

    /// <summary>Submits a job and streams its events: see <see cref="GearmanClient.ReadEventsAsync"/>.</summary>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Job options; default <see cref="GearmanJobOptions.Default"/>.</param>
    /// <param name="cancellationToken">Detaches from the job and ends the enumeration.</param>
    /// <returns>The job's events; each enumeration submits it once.</returns>
    IAsyncEnumerable<TaskEvent> ReadEventsAsync(string function, ReadOnlyMemory<byte> payload, GearmanJobOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs a foreground job and returns its result: see <see cref="GearmanClient.ExecuteAsync"/>.</summary>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Job options; must not be background.</param>
    /// <param name="progress">Receives the worker's status reports, if given.</param>
    /// <param name="cancellationToken">Detaches from the job.</param>
    /// <returns>The data chunks followed by the completion payload.</returns>
    ValueTask<ReadOnlyMemory<byte>> ExecuteAsync(string function, ReadOnlyMemory<byte> payload, GearmanJobOptions? options = null, IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default);

    /// <summary>Submits a background job: see <see cref="GearmanClient.SubmitBackgroundAsync"/>.</summary>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Job options.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement.</param>
    /// <returns>The job's handle.</returns>
    ValueTask<JobHandle> SubmitBackgroundAsync(string function, ReadOnlyMemory<byte> payload, GearmanJobOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Asks the job's server about it: see <see cref="GearmanClient.GetStatusAsync"/>.</summary>
    /// <param name="job">The job.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The status.</returns>
    ValueTask<JobStatus> GetStatusAsync(JobHandle job, CancellationToken cancellationToken = default);

    /// <summary>Asks about the job with a unique ID: see <see cref="GearmanClient.GetStatusByUniqueAsync"/>.</summary>
    /// <param name="unique">The unique ID.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The status.</returns>
    ValueTask<JobStatus> GetStatusByUniqueAsync(string unique, CancellationToken cancellationToken = default);

    /// <summary>Polls a job's status: see <see cref="GearmanClient.ObserveStatus"/>.</summary>
    /// <param name="job">The job.</param>
    /// <param name="interval">Time between polls.</param>
    /// <returns>The statuses, until the job is no longer known.</returns>
    IObservable<JobStatus> ObserveStatus(JobHandle job, TimeSpan interval);

    /// <summary>Polls a job's status by unique ID: see <see cref="GearmanClient.ObserveStatusByUnique"/>.</summary>
    /// <param name="unique">The unique ID.</param>
    /// <param name="interval">Time between polls.</param>
    /// <returns>The statuses, until the job is no longer known.</returns>
    IObservable<JobStatus> ObserveStatusByUnique(string unique, TimeSpan interval);

    /// <summary>
    /// Sends <c>ECHO_REQ</c> to every configured job server and waits for each <c>ECHO_RES</c> (as <c>gearman --ping</c>):
    /// see <see cref="GearmanClient.PingAsync"/>.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>One result per server, in the order of the options.</returns>
    ValueTask<IReadOnlyList<GearmanPingResult>> PingAsync(CancellationToken cancellationToken = default);
}
