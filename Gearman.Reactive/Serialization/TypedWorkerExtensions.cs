using Gearman.Reactive.Worker;

namespace Gearman.Reactive.Serialization;

/// <summary>
/// Typed handlers for <see cref="GearmanWorker"/>: the workload is deserialized before the handler runs and its result
/// serialized after, around the byte API's
/// <see cref="GearmanWorker.AddFunction(string, Func{GearmanJob, CancellationToken, ValueTask{ReadOnlyMemory{byte}}}, GearmanFunctionOptions)"/>.
/// A workload that does not deserialize fails that job with <c>WORK_EXCEPTION</c> naming the job and the type
/// (a <see cref="GearmanSerializationException"/>); the worker carries on with the next job.
/// </summary>
public static class TypedWorkerExtensions
{
    /// <summary>Registers <paramref name="function"/> with an asynchronous typed handler.</summary>
    /// <typeparam name="TRequest">The workload type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="worker">The worker.</param>
    /// <param name="function">The function name.</param>
    /// <param name="handler">Computes the result from the request; the job gives access to status, data and its handle.</param>
    /// <param name="requestSerializer">Reads the workload, for example a source-generated <c>JsonTypeInfo</c>.</param>
    /// <param name="resultSerializer">Writes the result.</param>
    /// <param name="options">Timeout, capacity and parallelism, for example <see cref="GearmanFunctionOptions.Default"/>.</param>
    public static void AddFunction<TRequest, TResult>(
        this GearmanWorker worker,
        string function,
        Func<TRequest, GearmanJob, CancellationToken, ValueTask<TResult>> handler,
        GearmanSerializer<TRequest> requestSerializer,
        GearmanSerializer<TResult> resultSerializer,
        GearmanFunctionOptions options)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(requestSerializer);
        ArgumentNullException.ThrowIfNull(resultSerializer);
        worker.AddFunction(
            function,
            async (job, cancellationToken) =>
            {
                var request = Payloads.Read(requestSerializer, job.Workload, WorkloadOf(job));
                var result = await handler(request, job, cancellationToken).ConfigureAwait(false);
                return Payloads.Write(resultSerializer, result, $"The result of job {job.Handle} ({job.Function})");
            },
            options);
    }

    /// <summary>Registers <paramref name="function"/> with a synchronous typed handler.</summary>
    /// <typeparam name="TRequest">The workload type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="worker">The worker.</param>
    /// <param name="function">The function name.</param>
    /// <param name="handler">Computes the result from the request.</param>
    /// <param name="requestSerializer">Reads the workload.</param>
    /// <param name="resultSerializer">Writes the result.</param>
    /// <param name="options">Timeout, capacity and parallelism, for example <see cref="GearmanFunctionOptions.Default"/>.</param>
    public static void AddFunction<TRequest, TResult>(
        this GearmanWorker worker,
        string function,
        Func<TRequest, TResult> handler,
        GearmanSerializer<TRequest> requestSerializer,
        GearmanSerializer<TResult> resultSerializer,
        GearmanFunctionOptions options)
    {
        ArgumentNullException.ThrowIfNull(handler);
        worker.AddFunction<TRequest, TResult>(function, (request, _, _) => ValueTask.FromResult(handler(request)), requestSerializer, resultSerializer, options);
    }

    /// <summary>How a failure to read a job's workload names it.</summary>
    internal static string WorkloadOf(GearmanJob job) => $"The workload of job {job.Handle} ({job.Function})";
}
