using System.Runtime.CompilerServices;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;

namespace Gearman.Reactive.Serialization;

/// <summary>
/// Typed map-reduce: a mapper that splits a typed request into typed chunks, an aggregator that folds typed reducer
/// results, and the client call that runs it; thin layers over <see cref="MapReduceWorkerExtensions.AddMapper"/> and
/// <see cref="MapReduceClientExtensions.ExecuteReduceAsync"/>. The reducer is an ordinary function: register it with
/// <see cref="TypedWorkerExtensions.AddFunction{TRequest, TResult}(GearmanWorker, string, Func{TRequest, GearmanJob, CancellationToken, ValueTask{TResult}}, GearmanSerializer{TRequest}, GearmanSerializer{TResult}, GearmanFunctionOptions)"/>
/// with the chunk and chunk-result serializers.
/// </summary>
public static class TypedMapReduceExtensions
{
    /// <summary>Registers a typed mapper with a typed aggregator.</summary>
    /// <typeparam name="TRequest">The map job's workload type.</typeparam>
    /// <typeparam name="TChunk">A chunk: the workload of one reducer job.</typeparam>
    /// <typeparam name="TChunkResult">The result of one reducer job.</typeparam>
    /// <typeparam name="TResult">The map job's result.</typeparam>
    /// <param name="worker">The worker.</param>
    /// <param name="function">The mapper's function name.</param>
    /// <param name="mapper">Splits the request into chunks.</param>
    /// <param name="aggregator">Folds the reducer results, in chunk order, into the map job's result.</param>
    /// <param name="requestSerializer">Reads the map job's workload.</param>
    /// <param name="chunkSerializer">Writes each chunk (a fresh buffer per chunk).</param>
    /// <param name="chunkResultSerializer">Reads each reducer result; one that does not deserialize fails the map job.</param>
    /// <param name="resultSerializer">Writes the aggregate.</param>
    /// <param name="options">Capacity, timeout and fan-out; default <see cref="GearmanMapperOptions.Default"/>.</param>
    public static void AddMapper<TRequest, TChunk, TChunkResult, TResult>(
        this GearmanWorker worker,
        string function,
        Func<TRequest, GearmanJob, CancellationToken, IAsyncEnumerable<TChunk>> mapper,
        Func<IAsyncEnumerable<TChunkResult>, CancellationToken, ValueTask<TResult>> aggregator,
        GearmanSerializer<TRequest> requestSerializer,
        GearmanSerializer<TChunk> chunkSerializer,
        GearmanSerializer<TChunkResult> chunkResultSerializer,
        GearmanSerializer<TResult> resultSerializer,
        GearmanMapperOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(mapper);
        ArgumentNullException.ThrowIfNull(aggregator);
        ArgumentNullException.ThrowIfNull(requestSerializer);
        ArgumentNullException.ThrowIfNull(chunkSerializer);
        ArgumentNullException.ThrowIfNull(chunkResultSerializer);
        ArgumentNullException.ThrowIfNull(resultSerializer);
        worker.AddMapper(
            function,
            (job, cancellationToken) => WriteChunks(job, mapper, requestSerializer, chunkSerializer, cancellationToken),
            async (results, cancellationToken) =>
            {
                var aggregate = await aggregator(ReadResults(results, chunkResultSerializer, function, cancellationToken), cancellationToken).ConfigureAwait(false);
                return Payloads.Write(resultSerializer, aggregate, $"The aggregate of '{function}'");
            },
            options ?? GearmanMapperOptions.Default);
    }

    /// <summary>Runs a map-reduce job with a serialized request and returns its deserialized aggregate.</summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <typeparam name="TResult">The aggregate's type.</typeparam>
    /// <param name="client">The client.</param>
    /// <param name="mapper">The function that splits the job.</param>
    /// <param name="reducer">The function each chunk is submitted to.</param>
    /// <param name="request">The request.</param>
    /// <param name="requestSerializer">Writes the request.</param>
    /// <param name="resultSerializer">Reads the aggregate.</param>
    /// <param name="options">Job options; its reducer is replaced.</param>
    /// <param name="progress">Receives the mapper's status reports, if given.</param>
    /// <param name="cancellationToken">Detaches from the job.</param>
    /// <returns>The aggregate.</returns>
    public static ValueTask<TResult> ExecuteReduceAsync<TRequest, TResult>(
        this IGearmanClient client,
        string mapper,
        string reducer,
        TRequest request,
        GearmanSerializer<TRequest> requestSerializer,
        GearmanSerializer<TResult> resultSerializer,
        GearmanJobOptions? options = null,
        IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reducer);
        return client.ExecuteAsync(mapper, request, requestSerializer, resultSerializer, (options ?? GearmanJobOptions.Default) with { Reducer = reducer }, progress, cancellationToken);
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> WriteChunks<TRequest, TChunk>(
        GearmanJob job,
        Func<TRequest, GearmanJob, CancellationToken, IAsyncEnumerable<TChunk>> mapper,
        GearmanSerializer<TRequest> requestSerializer,
        GearmanSerializer<TChunk> chunkSerializer,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = Payloads.Read(requestSerializer, job.Workload, TypedWorkerExtensions.WorkloadOf(job));
        long index = 0;
        await foreach (var chunk in mapper(request, job, cancellationToken).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return Payloads.Write(chunkSerializer, chunk, $"Chunk {index++} of job {job.Handle} ({job.Function})");
        }
    }

    private static async IAsyncEnumerable<TChunkResult> ReadResults<TChunkResult>(
        IAsyncEnumerable<ReadOnlyMemory<byte>> results,
        GearmanSerializer<TChunkResult> serializer,
        string function,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long index = 0;
        await foreach (var result in results.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return Payloads.Read(serializer, result, $"The reducer result for chunk {index++} of '{function}'");
        }
    }
}
