using Gearman.Reactive.Worker;

namespace Gearman.Reactive.MapReduce;

/// <summary>Registers map-reduce mappers on a <see cref="GearmanWorker"/> (libgearman's partition functions).</summary>
public static class MapReduceWorkerExtensions
{
    /// <summary>
    /// Registers <paramref name="function"/> as a mapper with an optional aggregator (libgearman's
    /// <c>gearman_function_create_partition</c>). For a map job (one submitted with a reducer, <c>SUBMIT_REDUCE_JOB</c>),
    /// each chunk the mapper emits becomes a job of the reducer function, submitted over the worker's job servers with at
    /// most <see cref="GearmanMapperOptions.MaxReducerJobs"/> in flight; the reducer results reach the aggregator in chunk
    /// order, and what it returns completes the map job. A job without a reducer runs the mapper as an ordinary function:
    /// each chunk goes to the client as <c>WORK_DATA</c>, and the job completes with an empty result.
    /// </summary>
    /// <param name="worker">The worker.</param>
    /// <param name="function">The mapper's function name: the one clients submit reduce jobs to.</param>
    /// <param name="mapper">
    /// Splits the job into chunks; each chunk must keep its bytes until its reducer job has finished (yield a fresh
    /// buffer per chunk). It is enumerated only while the fan-out has room, so it may emit any number of chunks. Ending
    /// the enumeration is success. To fail the whole job, call <see cref="GearmanJob.FailAsync"/> (<c>WORK_FAIL</c>) and
    /// stop, or throw (<c>WORK_EXCEPTION</c> with the message); throw <see cref="GearmanJobRetryException"/> to have the
    /// server run the job again. It may send status and warnings through the job. The token fires when the job is taken
    /// away or has failed.
    /// </param>
    /// <param name="aggregator">
    /// Folds the reducer results, which it receives as an asynchronous stream in chunk order, into the map job's result.
    /// Null completes map jobs with an empty result once every reducer job has succeeded. If it throws, the map job ends
    /// with <c>WORK_EXCEPTION</c>. If it returns before reading every result, the rest are still awaited (and must
    /// succeed) before the job completes.
    /// </param>
    /// <param name="options">Capacity, timeout and fan-out settings, for example <see cref="GearmanMapperOptions.Default"/>.</param>
    /// <exception cref="ArgumentException">An argument is invalid.</exception>
    /// <exception cref="InvalidOperationException">The function is already registered on this worker.</exception>
    /// <exception cref="ObjectDisposedException">The worker has been stopped.</exception>
    /// <remarks>
    /// <para>If a reducer job fails (<c>WORK_FAIL</c>, <c>WORK_EXCEPTION</c>, a lost server, <see cref="GearmanMapperOptions.ReducerTimeout"/>),
    /// the map job fails with <c>WORK_FAIL</c> at once: the mapper is asked for no more chunks and the worker detaches
    /// from the reducer jobs still in flight (Gearman cannot cancel a job; they run to their end unobserved).</para>
    /// <para>See docs/mapreduce.md for the full table of outcomes and the differences from libgearman.</para>
    /// </remarks>
    public static void AddMapper(
        this GearmanWorker worker,
        string function,
        Func<GearmanJob, CancellationToken, IAsyncEnumerable<ReadOnlyMemory<byte>>> mapper,
        Func<IAsyncEnumerable<ReadOnlyMemory<byte>>, CancellationToken, ValueTask<ReadOnlyMemory<byte>>>? aggregator,
        GearmanMapperOptions options)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentException.ThrowIfNullOrEmpty(function);
        ArgumentNullException.ThrowIfNull(mapper);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxReducerJobs < 1) throw new ArgumentException("MaxReducerJobs must be at least 1.", nameof(options));
        if (options.ReducerTimeout != System.Threading.Timeout.InfiniteTimeSpan && options.ReducerTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("ReducerTimeout must be positive or infinite.", nameof(options));
        }

        var handler = new MapperHandler(worker.Options, mapper, aggregator, options, worker.Options.LoggerFactory.CreateLogger(MapperHandler.LogCategory));

        // A map job mostly waits for its reducer jobs, so every map job in flight runs at once.
        worker.AddFunction(
            function,
            handler.HandleAsync,
            new GearmanFunctionOptions { BoundedCapacity = options.BoundedCapacity, MaxDegreeOfParallelism = Math.Max(1, options.BoundedCapacity), Timeout = options.Timeout });
    }
}
