using Gearman.Reactive.Client;

namespace Gearman.Reactive.Serialization;

/// <summary>
/// Typed and string payloads for <see cref="IGearmanClient"/> (and so <see cref="GearmanClient"/>): thin layers that
/// serialize the request, call the byte API, and deserialize the result. Nothing else differs from the byte API.
/// </summary>
public static class TypedClientExtensions
{
    /// <summary><see cref="IGearmanClient.Submit"/> with a serialized request.</summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <param name="client">The client.</param>
    /// <param name="function">The function name.</param>
    /// <param name="request">The request, serialized once, now.</param>
    /// <param name="requestSerializer">Writes the request, for example a source-generated <c>JsonTypeInfo</c>.</param>
    /// <param name="options">Job options.</param>
    /// <returns>The job's events (their payloads are bytes; decode them with the serializer you expect).</returns>
    /// <exception cref="GearmanSerializationException">The request could not be serialized.</exception>
    public static IObservable<TaskEvent> Submit<TRequest>(
        this IGearmanClient client, string function, TRequest request, GearmanSerializer<TRequest> requestSerializer, GearmanJobOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(requestSerializer);
        return client.Submit(function, Payloads.Write(requestSerializer, request, $"The request to '{function}'"), options);
    }

    /// <summary>
    /// Runs a foreground job with a serialized request and returns its deserialized result (the data chunks followed
    /// by the completion payload, as <see cref="IGearmanClient.ExecuteAsync"/>).
    /// </summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="client">The client.</param>
    /// <param name="function">The function name.</param>
    /// <param name="request">The request.</param>
    /// <param name="requestSerializer">Writes the request, for example a source-generated <c>JsonTypeInfo</c>.</param>
    /// <param name="resultSerializer">Reads the result.</param>
    /// <param name="options">Job options; must not be background.</param>
    /// <param name="progress">Receives the worker's status reports, if given.</param>
    /// <param name="cancellationToken">Detaches from the job.</param>
    /// <returns>The result.</returns>
    /// <exception cref="GearmanSerializationException">The request could not be written or the result could not be read; the job itself ran.</exception>
    public static async ValueTask<TResult> ExecuteAsync<TRequest, TResult>(
        this IGearmanClient client,
        string function,
        TRequest request,
        GearmanSerializer<TRequest> requestSerializer,
        GearmanSerializer<TResult> resultSerializer,
        GearmanJobOptions? options = null,
        IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(requestSerializer);
        ArgumentNullException.ThrowIfNull(resultSerializer);
        var payload = Payloads.Write(requestSerializer, request, $"The request to '{function}'");
        var result = await client.ExecuteAsync(function, payload, options, progress, cancellationToken).ConfigureAwait(false);
        return Payloads.Read(resultSerializer, result, $"The result of '{function}'");
    }

    /// <summary><see cref="IGearmanClient.SubmitBackgroundAsync"/> with a serialized request.</summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <param name="client">The client.</param>
    /// <param name="function">The function name.</param>
    /// <param name="request">The request.</param>
    /// <param name="requestSerializer">Writes the request.</param>
    /// <param name="options">Job options.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement.</param>
    /// <returns>The job's handle.</returns>
    public static ValueTask<JobHandle> SubmitBackgroundAsync<TRequest>(
        this IGearmanClient client,
        string function,
        TRequest request,
        GearmanSerializer<TRequest> requestSerializer,
        GearmanJobOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(requestSerializer);
        return client.SubmitBackgroundAsync(function, Payloads.Write(requestSerializer, request, $"The request to '{function}'"), options, cancellationToken);
    }
}
