using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;
using Microsoft.Extensions.Logging;

namespace Gearman.Reactive.MapReduce;

/// <summary>
/// The handler behind <see cref="MapReduceWorkerExtensions.AddMapper"/>: runs a map job's fan-out
/// (<see cref="MapJobRun"/>) when the job carries a reducer, and the mapper as an ordinary function otherwise.
/// </summary>
internal sealed partial class MapperHandler
{
    /// <summary>The logging category of map-reduce events (IDs 2100–2149).</summary>
    public const string LogCategory = "Gearman.Reactive.MapReduce";

    private readonly GearmanClientOptions _clientOptions;

    public MapperHandler(
        GearmanWorkerOptions workerOptions,
        Func<GearmanJob, CancellationToken, IAsyncEnumerable<ReadOnlyMemory<byte>>> mapper,
        Func<IAsyncEnumerable<ReadOnlyMemory<byte>>, CancellationToken, ValueTask<ReadOnlyMemory<byte>>>? aggregator,
        GearmanMapperOptions options,
        ILogger logger)
    {
        Mapper = mapper;
        Aggregator = aggregator;
        Options = options;
        Logger = logger;
        SendExceptions = workerOptions.SendExceptions;
        ReducerJobOptions = new GearmanJobOptions { Timeout = options.ReducerTimeout };

        // libgearman clones the worker's settings into the map job's private client (protocol.md §4.3).
        _clientOptions = GearmanClientOptions.Default with
        {
            Servers = workerOptions.Servers,
            ClientId = workerOptions.ClientId,
            ConnectTimeout = workerOptions.ConnectTimeout,
            ReconnectDelay = workerOptions.ReconnectDelay,
            MaxReconnectDelay = workerOptions.MaxReconnectDelay,
            MaxPacketSize = workerOptions.MaxPacketSize,
            LoggerFactory = workerOptions.LoggerFactory,
            TimeProvider = workerOptions.TimeProvider,
        };
    }

    public Func<GearmanJob, CancellationToken, IAsyncEnumerable<ReadOnlyMemory<byte>>> Mapper { get; }

    public Func<IAsyncEnumerable<ReadOnlyMemory<byte>>, CancellationToken, ValueTask<ReadOnlyMemory<byte>>>? Aggregator { get; }

    public GearmanMapperOptions Options { get; }

    public GearmanJobOptions ReducerJobOptions { get; }

    public ILogger Logger { get; }

    /// <summary>Whether failures are reported with WORK_EXCEPTION and a reason (<see cref="GearmanWorkerOptions.SendExceptions"/>).</summary>
    public bool SendExceptions { get; }

    /// <summary>The <c>AddFunction</c> handler: its result completes the job unless the job has already ended.</summary>
    public ValueTask<ReadOnlyMemory<byte>> HandleAsync(GearmanJob job, CancellationToken cancellationToken)
        => job.Reducer is { } reducer ? ReduceAsync(job, reducer, cancellationToken) : RunAsFunctionAsync(job, cancellationToken);

    /// <summary>No reducer: every chunk goes to the clients as WORK_DATA, then the job completes empty (libgearman, protocol.md §4.4).</summary>
    private async ValueTask<ReadOnlyMemory<byte>> RunAsFunctionAsync(GearmanJob job, CancellationToken cancellationToken)
    {
        await foreach (var chunk in Mapper(job, cancellationToken).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (job.IsEnded) break;
            await job.SendDataAsync(chunk, cancellationToken).ConfigureAwait(false);
        }

        return ReadOnlyMemory<byte>.Empty;
    }

    private async ValueTask<ReadOnlyMemory<byte>> ReduceAsync(GearmanJob job, string reducer, CancellationToken cancellationToken)
    {
        var ownClient = Options.ReducerClient is null ? new GearmanClient(_clientOptions) : null;
        try
        {
            var run = new MapJobRun(this, job, reducer, Options.ReducerClient ?? ownClient!);
            return await run.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Closing the private client detaches from any reducer job still running.
            if (ownClient is not null) await ownClient.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal static partial class Log
    {
        [LoggerMessage(2100, LogLevel.Debug, "Map job {Handle} of {Function}: {Chunks} chunk(s) reduced by {Reducer}; completing it with the aggregate", EventName = "MapJobCompleted")]
        public static partial void Completed(ILogger logger, string handle, string function, long chunks, string reducer);

        [LoggerMessage(2101, LogLevel.Warning, "Map job {Handle} of {Function}: the {Reducer} job for chunk {Chunk} failed; failing the map job and detaching from its other reducer jobs", EventName = "ReducerJobFailed")]
        public static partial void ReducerFailed(ILogger logger, string handle, string function, string reducer, long chunk, Exception exception);

        [LoggerMessage(2102, LogLevel.Debug, "Map job {Handle} of {Function} ended before its fan-out did ({Reason}); detached from its reducer jobs", EventName = "MapJobStopped")]
        public static partial void Stopped(ILogger logger, string handle, string function, string reason);

        [LoggerMessage(2103, LogLevel.Warning, "Map job {Handle} of {Function}: the aggregator failed", EventName = "AggregatorFailed")]
        public static partial void AggregatorFailed(ILogger logger, string handle, string function, Exception exception);
    }
}
