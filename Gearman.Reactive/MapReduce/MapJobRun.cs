using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;

namespace Gearman.Reactive.MapReduce;

/// <summary>
/// One map job's fan-out, a three-stage Dataflow pipeline:
/// <list type="number">
/// <item>the producer enumerates the mapper and <c>SendAsync</c>s each chunk into a bounded block, so the mapper runs only
/// while the block has room;</item>
/// <item>the block (a <see cref="TransformBlock{TInput, TOutput}"/> with <c>MaxDegreeOfParallelism</c> =
/// <see cref="GearmanMapperOptions.MaxReducerJobs"/> and <c>EnsureOrdered</c>) runs one reducer job per chunk and
/// releases the results in chunk order;</item>
/// <item>the aggregator reads them as an asynchronous stream.</item>
/// </list>
/// The first failure of any stage decides the outcome; it cancels the pipeline, which detaches from the reducer jobs in
/// flight and stops the mapper.
/// </summary>
internal sealed class MapJobRun
{
    private readonly MapperHandler _handler;
    private readonly GearmanJob _job;
    private readonly string _reducer;
    private readonly GearmanClient _client;
    private CancellationTokenSource _pipeline = null!;
    private Failure? _failure;
    private long _chunks;

    public MapJobRun(MapperHandler handler, GearmanJob job, string reducer, GearmanClient client)
    {
        _handler = handler;
        _job = job;
        _reducer = reducer;
        _client = client;
    }

    private enum Stage
    {
        /// <summary>A reducer job failed: the map job fails (WORK_FAIL).</summary>
        Reducer,

        /// <summary>The mapper threw: the exception propagates (WORK_EXCEPTION, or a retry).</summary>
        Mapper,

        /// <summary>The mapper ended the job itself (for example with FailAsync).</summary>
        MapperEndedJob,

        /// <summary>The aggregator threw: the exception propagates (WORK_EXCEPTION).</summary>
        Aggregator,
    }

    /// <summary>Runs the fan-out; returns the aggregate, or throws what the handler wrapper turns into the job's end.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> RunAsync(CancellationToken jobToken)
    {
        using var pipeline = CancellationTokenSource.CreateLinkedTokenSource(jobToken);
        _pipeline = pipeline;
        var token = pipeline.Token;
        int parallelism = _handler.Options.MaxReducerJobs;
        var reduce = new TransformBlock<Chunk, ReadOnlyMemory<byte>>(
            ReduceAsync,
            new ExecutionDataflowBlockOptions
            {
                // Room for the jobs in flight plus as many finished results waiting for an earlier chunk.
                BoundedCapacity = parallelism * 2,
                MaxDegreeOfParallelism = parallelism,
                EnsureOrdered = true,
                SingleProducerConstrained = true,
                CancellationToken = token,
            });

        var producer = ProduceAsync(reduce, token);
        ReadOnlyMemory<byte> result = default;
        try
        {
            var results = ReadResultsAsync(reduce, token);
            if (_handler.Aggregator is { } aggregate) result = await aggregate(results, token).ConfigureAwait(false);

            // Whatever the aggregator left unread must still succeed.
            await foreach (var unused in results.ConfigureAwait(false))
            {
            }
        }
        catch (Exception ex) when (!IsConsequence(ex, token))
        {
            Fail(Stage.Aggregator, ex);
        }
        catch (Exception)
        {
            // A consequence of an earlier failure, which decides the outcome.
        }

        await producer.ConfigureAwait(false);

        // Wait for the reducer jobs still in flight to be detached before the client goes away.
        await reduce.Completion.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        return await FinishAsync(result, jobToken).ConfigureAwait(false);
    }

    private static bool IsConsequence(Exception ex, CancellationToken token) => ex is OperationCanceledException && token.IsCancellationRequested;

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadResultsAsync(
        TransformBlock<Chunk, ReadOnlyMemory<byte>> block, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await block.OutputAvailableAsync(cancellationToken).ConfigureAwait(false))
        {
            while (block.TryReceive(out var result)) yield return result;
        }

        // The block completed: normally after the last result, or faulted by a failed reducer job.
        await block.Completion.ConfigureAwait(false);
    }

    /// <summary>Ends the map job according to the first failure, if any.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> FinishAsync(ReadOnlyMemory<byte> result, CancellationToken jobToken)
    {
        var logger = _handler.Logger;
        if (jobToken.IsCancellationRequested)
        {
            // Taken away (timeout, lost connection, stop): nothing may be sent; the handler wrapper expects this.
            MapperHandler.Log.Stopped(logger, _job.Handle, _job.Function, "the job was taken away");
            throw new OperationCanceledException(jobToken);
        }

        switch (_failure)
        {
            case null:
                MapperHandler.Log.Completed(logger, _job.Handle, _job.Function, Interlocked.Read(ref _chunks), _reducer);
                return result;
            case { Stage: Stage.Reducer } f:
                MapperHandler.Log.ReducerFailed(logger, _job.Handle, _job.Function, _reducer, f.Chunk, f.Error!);

                // libgearman's outcome for a failed reducer task: WORK_FAIL (spec §4.3). Whatever is returned is ignored.
                await _job.FailAsync(CancellationToken.None).ConfigureAwait(false);
                return default;
            case { Stage: Stage.MapperEndedJob }:
                MapperHandler.Log.Stopped(logger, _job.Handle, _job.Function, "the mapper ended it");
                return default;
            case { Stage: Stage.Aggregator } f:
                MapperHandler.Log.AggregatorFailed(logger, _job.Handle, _job.Function, f.Error!);
                ExceptionDispatchInfo.Throw(f.Error!);
                return default;
            case var f:
                MapperHandler.Log.Stopped(logger, _job.Handle, _job.Function, "the mapper threw");
                ExceptionDispatchInfo.Throw(f.Error!);
                return default;
        }
    }

    /// <summary>Stage 1: pulls chunks from the mapper while the block has room.</summary>
    private async Task ProduceAsync(TransformBlock<Chunk, ReadOnlyMemory<byte>> block, CancellationToken token)
    {
        long index = 0;
        try
        {
            await Task.Yield(); // The caller starts reading results at once; the mapper runs beside it.
            await foreach (var chunk in _handler.Mapper(_job, token).WithCancellation(token).ConfigureAwait(false))
            {
                if (_job.IsEnded) break;
                if (!await block.SendAsync(new Chunk(index, chunk), token).ConfigureAwait(false)) break;
                index++;
                Interlocked.Exchange(ref _chunks, index);
            }

            if (_job.IsEnded) Fail(Stage.MapperEndedJob, null);
        }
        catch (Exception ex) when (!IsConsequence(ex, token))
        {
            Fail(Stage.Mapper, ex);
        }
        catch (Exception)
        {
            // A consequence of an earlier failure.
        }
        finally
        {
            block.Complete();
        }
    }

    /// <summary>Stage 2: one reducer job per chunk (the block bounds how many run at once).</summary>
    private async Task<ReadOnlyMemory<byte>> ReduceAsync(Chunk chunk)
    {
        var token = _pipeline.Token;
        try
        {
            return await _client.ExecuteAsync(_reducer, chunk.Data, _handler.ReducerJobOptions, progress: null, token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!IsConsequence(ex, token))
        {
            Fail(Stage.Reducer, ex, chunk.Index);
            throw;
        }
    }

    /// <summary>Records the first failure and cancels the pipeline; later failures are its consequences.</summary>
    private void Fail(Stage stage, Exception? error, long chunk = -1)
    {
        if (Interlocked.CompareExchange(ref _failure, new Failure(stage, error, chunk), null) is not null) return;
        try
        {
            _pipeline.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private readonly record struct Chunk(long Index, ReadOnlyMemory<byte> Data);

    private sealed record Failure(Stage Stage, Exception? Error, long Chunk);
}
