using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Diagnostics;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;

namespace Gearman.Reactive.MapReduce;

/// <summary>
/// One map job's fan-out, in three stages that run side by side:
/// <list type="number">
/// <item>the producer enumerates the mapper and submits one reducer job per chunk while there is room: fewer than
/// <see cref="GearmanMapperOptions.MaxReducerJobs"/> reducer jobs running, and fewer than twice that many chunks
/// submitted and not yet taken by the aggregator (running, or finished and waiting for an earlier chunk); so the mapper
/// runs only while there is room;</item>
/// <item>each reducer job frees its running place when it finishes;</item>
/// <item>the aggregator reads the results as an asynchronous stream, in chunk order; each result it takes frees a
/// place in the window.</item>
/// </list>
/// The first failure of any stage decides the outcome; it cancels the pipeline, which detaches from the reducer jobs in
/// flight and stops the mapper.
/// </summary>
/// <remarks>
/// The reducer jobs' tasks go straight from the producer to the reader through a channel: a finished reducer job resumes
/// the reader on the thread that delivered its result, with no block or scheduler in between.
/// </remarks>
internal sealed class MapJobRun
{
    private readonly MapperHandler _handler;
    private readonly GearmanJob _job;
    private readonly string _reducer;
    private readonly GearmanClient _client;
    private readonly Channel<Task<ReadOnlyMemory<byte>>> _submitted = Channel.CreateUnbounded<Task<ReadOnlyMemory<byte>>>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    private readonly Lock _lock = new();
    private readonly AsyncSignal _room = new();
    private int _running;
    private int _unconsumed;
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
        var producer = ProduceAsync(token);
        ReadOnlyMemory<byte> result = default;
        try
        {
            var results = ReadResultsAsync(token);
            if (_handler.Aggregator is { } aggregate)
            {
                using var aggregation = GearmanTracing.StartAggregate(_job);
                try
                {
                    result = await aggregate(results, token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    GearmanTracing.Failed(aggregation, ex);
                    throw;
                }
            }

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
        while (_submitted.Reader.TryRead(out var unread))
        {
            try
            {
                await unread.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Cancelled by the failure that decides the outcome, or a later failure of its own: either way observed.
            }
        }

        return await FinishAsync(result, jobToken).ConfigureAwait(false);
    }

    private static bool IsConsequence(Exception ex, CancellationToken token) => ex is OperationCanceledException && token.IsCancellationRequested;

    /// <summary>
    /// Stage 3: the results in chunk order. Enumerating it again (as after an aggregator that stopped early) continues
    /// where the previous enumeration stopped.
    /// </summary>
    private async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadResultsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reader = _submitted.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (reader.TryRead(out var reduction))
            {
                var result = await reduction.ConfigureAwait(false);
                lock (_lock) _unconsumed--;
                _room.Set();
                yield return result;
            }
        }
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

                // libgearman answers a failed reducer task with a bare WORK_FAIL (protocol.md §4.3); the client then cannot tell
                // why. The reducer's failure goes into a WORK_EXCEPTION instead, unless the worker sends no exceptions.
                // Whatever is returned is ignored.
                if (_handler.SendExceptions)
                {
                    await _job.FailWithExceptionAsync(
                        $"The {_reducer} job for chunk {f.Chunk} failed: {f.Error!.Message}", CancellationToken.None).ConfigureAwait(false);
                }
                else
                {
                    await _job.FailAsync(CancellationToken.None).ConfigureAwait(false);
                }

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

    /// <summary>Stage 1: pulls chunks from the mapper while the window has room, and submits their reducer jobs.</summary>
    /// <remarks>
    /// Submits that follow each other without a wait are written together, at most <see cref="SubmitsPerWrite"/> at a
    /// time, by this thread (<see cref="PacketOutbox.SendInline"/>): sent one by one from here (not a reader thread),
    /// each would wake the connection's write loop through the thread pool whenever the loop had caught up. A batch
    /// ends before every wait, as the scope is per thread.
    /// </remarks>
    private async Task ProduceAsync(CancellationToken token)
    {
        long index = 0;
        var batch = new SubmitBatch();
        try
        {
            await Task.Yield(); // The caller starts reading results at once; the mapper runs beside it.
            var chunks = _handler.Mapper(_job, token).GetAsyncEnumerator(token);
            await using (chunks.ConfigureAwait(false))
            {
                try
                {
                    while (true)
                    {
                        var moveNext = chunks.MoveNextAsync();
                        if (!moveNext.IsCompleted) batch.End();
                        if (!await moveNext.ConfigureAwait(false) || _job.IsEnded) break;
                        if (!TryTakeRoom())
                        {
                            batch.End();
                            do await _room.WaitAsync(token).ConfigureAwait(false);
                            while (!TryTakeRoom());
                        }

                        batch.Add();
                        _submitted.Writer.TryWrite(ReduceAsync(new Chunk(index, chunks.Current), token));
                        index++;
                        Interlocked.Exchange(ref _chunks, index);
                    }
                }
                finally
                {
                    // Before the enumerator's disposal, which may wait.
                    batch.End();
                }
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
            _submitted.Writer.TryComplete();
        }
    }

    /// <summary>The reducer submits one write carries; the first ones go out while the mapper makes the rest.</summary>
    private const int SubmitsPerWrite = 32;

    /// <summary>An open <see cref="PacketOutbox.SendInline"/> scope of the producer, ended before any wait.</summary>
    private struct SubmitBatch
    {
        private int _count;
        private bool _open;

        /// <summary>Opens the scope if needed, before a submit; writes the batch first once it is full.</summary>
        public void Add()
        {
            if (_count == SubmitsPerWrite) End();
            if (!_open)
            {
                _ = PacketOutbox.SendInline();
                _open = true;
            }

            _count++;
        }

        /// <summary>Writes what the scope holds (on this thread), if one is open.</summary>
        public void End()
        {
            if (!_open) return;
            _open = false;
            _count = 0;
            PacketOutbox.EndSendInline();
        }
    }

    /// <summary>Stage 2: one reducer job per chunk; its failure is recorded as soon as it happens, whatever chunk the reader is at.</summary>
    private async Task<ReadOnlyMemory<byte>> ReduceAsync(Chunk chunk, CancellationToken token)
    {
        try
        {
            return await _client.ExecuteAsync(_reducer, chunk.Data, _handler.ReducerJobOptions, progress: null, token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!IsConsequence(ex, token))
        {
            Fail(Stage.Reducer, ex, chunk.Index);
            throw;
        }
        finally
        {
            lock (_lock) _running--;
            _room.Set();
        }
    }

    /// <summary>Takes a running place and a window place for the next chunk, if both are free.</summary>
    private bool TryTakeRoom()
    {
        int parallelism = _handler.Options.MaxReducerJobs;
        lock (_lock)
        {
            if (_running >= parallelism || _unconsumed >= 2 * parallelism) return false;
            _running++;
            _unconsumed++;
            return true;
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
