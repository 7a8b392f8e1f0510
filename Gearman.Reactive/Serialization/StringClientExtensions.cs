using Gearman.Reactive.Client;

namespace Gearman.Reactive.Serialization;

/// <summary>
/// UTF-8 text payloads for <see cref="IGearmanClient"/>: the workload is encoded (and a result decoded) with
/// <see cref="GearmanSerializer.Utf8"/>, the way libgearman, Perl and PHP peers exchange strings.
/// </summary>
public static class StringClientExtensions
{
    /// <summary><see cref="IGearmanClient.Submit"/> with a UTF-8 text payload.</summary>
    /// <param name="client">The client.</param>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The workload, sent as UTF-8.</param>
    /// <param name="options">Job options.</param>
    /// <returns>The job's events; each subscription submits it once.</returns>
    public static IObservable<TaskEvent> Submit(this IGearmanClient client, string function, string payload, GearmanJobOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.Submit(function, Payloads.Write(GearmanSerializer.Utf8, payload, "The workload"), options);
    }

    /// <summary><see cref="IGearmanClient.ExecuteAsync"/> with UTF-8 text for the workload and the result.</summary>
    /// <param name="client">The client.</param>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The workload, sent as UTF-8.</param>
    /// <param name="options">Job options; must not be background.</param>
    /// <param name="progress">Receives the worker's status reports, if given.</param>
    /// <param name="cancellationToken">Detaches from the job.</param>
    /// <returns>The result decoded as UTF-8.</returns>
    /// <exception cref="GearmanSerializationException">The result is not valid UTF-8.</exception>
    public static ValueTask<string> ExecuteAsync(
        this IGearmanClient client,
        string function,
        string payload,
        GearmanJobOptions? options = null,
        IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
        => client.ExecuteAsync(function, payload, GearmanSerializer.Utf8, GearmanSerializer.Utf8, options, progress, cancellationToken);

    /// <summary><see cref="IGearmanClient.SubmitBackgroundAsync"/> with a UTF-8 text payload.</summary>
    /// <param name="client">The client.</param>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The workload, sent as UTF-8.</param>
    /// <param name="options">Job options.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement.</param>
    /// <returns>The job's handle.</returns>
    public static ValueTask<JobHandle> SubmitBackgroundAsync(
        this IGearmanClient client, string function, string payload, GearmanJobOptions? options = null, CancellationToken cancellationToken = default)
        => client.SubmitBackgroundAsync(function, payload, GearmanSerializer.Utf8, options, cancellationToken);
}
