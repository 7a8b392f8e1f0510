using System.Text;
using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Connections.Transports;
using Gearman.Reactive.Diagnostics;
using Gearman.Reactive.Protocol;
using Microsoft.Extensions.Logging;

namespace Gearman.Reactive.Worker;

/// <summary>
/// A Gearman worker whose jobs flow through TPL Dataflow blocks. Register functions with
/// <see cref="AddFunction(string, Func{GearmanJob, CancellationToken, ValueTask{ReadOnlyMemory{byte}}}, GearmanFunctionOptions)"/>
/// (the worker builds the handler block) or <see cref="Jobs(string, GearmanFunctionOptions)"/> (a source block to link
/// into your own pipeline), then <see cref="StartAsync"/>; <see cref="StopAsync"/> or <see cref="DisposeAsync"/> stop
/// gracefully.
/// </summary>
/// <remarks>
/// <para>
/// Each registration connects to every configured job server, sets the client ID, registers its functions
/// (<c>CAN_DO</c>, or <c>CAN_DO_TIMEOUT</c> with a timeout) and grabs with <c>GRAB_JOB_ALL</c> while it has capacity:
/// after <c>NO_JOB</c> it sends <c>PRE_SLEEP</c> and waits for the server's <c>NOOP</c>. A lost connection is re-opened
/// with exponential back-off and the functions are registered again; the jobs that were running on it fire their
/// cancellation tokens, because the server gives them to another worker.
/// </para>
/// <para>
/// Back-pressure: a registration never holds more than <see cref="GearmanFunctionOptions.BoundedCapacity"/> jobs that
/// have been grabbed and not ended. It sends a grab only when it has a free slot, hands the job to its block with
/// <c>SendAsync</c> and awaits the acceptance before grabbing again. Each registration has its own connections, so one
/// function's full block never delays another function's jobs.
/// </para>
/// </remarks>
public sealed partial class GearmanWorker : IAsyncDisposable
{
    private const int Created = 0;
    private const int Running = 1;
    private const int Stopping = 2;

    private readonly Lock _lock = new();
    private readonly List<WorkerLane> _lanes = [];
    private readonly HashSet<string> _functions = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _aborting = new();
    private readonly CancellationToken _stoppingToken;
    private readonly CancellationToken _abortingToken;
    private int _state;
    private Task? _stopTask;

    /// <summary>Creates a worker; nothing connects until <see cref="StartAsync"/>.</summary>
    /// <param name="options">The settings; null means <see cref="GearmanWorkerOptions.Default"/>.</param>
    /// <exception cref="ArgumentException">A server address is invalid, or a setting is out of range.</exception>
    public GearmanWorker(GearmanWorkerOptions? options = null)
    {
        options ??= GearmanWorkerOptions.Default;
        Endpoints = Validate(options);
        Options = options;
        Logger = options.LoggerFactory.CreateLogger<GearmanWorker>();
        ClientIdBytes = options.ClientId is null ? null : Encoding.UTF8.GetBytes(options.ClientId);
        _stoppingToken = _stopping.Token;
        _abortingToken = _aborting.Token;
    }

    /// <summary>The settings this worker was created with.</summary>
    public GearmanWorkerOptions Options { get; }

    internal IReadOnlyList<ServerEndpoint> Endpoints { get; }

    internal ILogger Logger { get; }

    internal byte[]? ClientIdBytes { get; }

    /// <summary>Fires when a stop runs out of time: nothing waits for blocks any more.</summary>
    internal CancellationToken Aborting => _abortingToken;

    /// <summary>
    /// Registers <paramref name="function"/> and returns the source its jobs arrive on, to link into your own blocks.
    /// </summary>
    /// <param name="function">The function name.</param>
    /// <param name="options">Timeout and capacity, for example <see cref="GearmanFunctionOptions.Default"/>.</param>
    /// <returns>
    /// A source holding at most <see cref="GearmanFunctionOptions.BoundedCapacity"/> jobs in flight (grabbed and not
    /// ended). Each job must be ended by your pipeline (<see cref="GearmanJob.CompleteAsync"/> or a fail): ending it frees
    /// its slot. The source completes when the worker has stopped grabbing, so link it with
    /// <c>PropagateCompletion = true</c>.
    /// </returns>
    public ISourceBlock<GearmanJob> Jobs(string function, GearmanFunctionOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(function);
        return AddJobsLane(ValidateFunctions([function], options, nameof(function)), options);
    }

    /// <summary>
    /// Registers several functions that share one capacity and returns the source their jobs arrive on, in the order the
    /// servers assign them.
    /// </summary>
    /// <param name="functions">The function names.</param>
    /// <param name="options">Timeout (applied to each function) and the shared capacity.</param>
    /// <returns>The source; see <see cref="Jobs(string, GearmanFunctionOptions)"/>.</returns>
    public ISourceBlock<GearmanJob> Jobs(IEnumerable<string> functions, GearmanFunctionOptions options)
        => AddJobsLane(ValidateFunctions(functions, options), options);

    /// <summary>
    /// Registers <paramref name="function"/> with a handler that returns the job's result. The worker runs it in an
    /// <see cref="ActionBlock{TInput}"/> with <see cref="GearmanFunctionOptions.BoundedCapacity"/> and
    /// <see cref="GearmanFunctionOptions.MaxDegreeOfParallelism"/>, and completes the job with what it returns.
    /// </summary>
    /// <param name="function">The function name.</param>
    /// <param name="handler">
    /// Computes the result. It may send data, warnings and status through the job while it runs. If it ends the job
    /// itself (for example with <see cref="GearmanJob.FailAsync"/>), its return value is ignored. If it throws, the job
    /// fails with <c>WORK_EXCEPTION</c> carrying the message (or <c>WORK_FAIL</c>, see
    /// <see cref="GearmanWorkerOptions.SendExceptions"/>); if it throws <see cref="GearmanJobRetryException"/>, the job
    /// goes back to the server, which runs it again. The token is the job's <see cref="GearmanJob.CancellationToken"/>;
    /// a job taken away before its handler started (lost connection, timeout, stop) is skipped.
    /// </param>
    /// <param name="options">Timeout, capacity and parallelism, for example <see cref="GearmanFunctionOptions.Default"/>.</param>
    /// <example><code>worker.AddFunction("echo", (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);</code></example>
    public void AddFunction(string function, Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> handler, GearmanFunctionOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(function);
        ArgumentNullException.ThrowIfNull(handler);
        var registered = ValidateFunctions([function], options, nameof(function));
        var block = new ActionBlock<GearmanJob>(
            job => RunHandlerAsync(job, handler),
            new ExecutionDataflowBlockOptions
            {
                BoundedCapacity = options.BoundedCapacity,
                MaxDegreeOfParallelism = options.MaxDegreeOfParallelism,

                // A handler made ready by a read starts on the reader thread that read it (Linux transport), else on the pool.
                TaskScheduler = ReaderTaskScheduler.Instance,
                EnsureOrdered = false,
                SingleProducerConstrained = false,
            });
        AddLane(registered, options.BoundedCapacity, block, releasesOnJobEnd: false);
    }

    /// <summary>Connects to the job servers and starts grabbing for every registration (and for those added later).</summary>
    /// <param name="cancellationToken">Checked before starting; connecting happens in the background.</param>
    /// <returns>A task that is already complete: unreachable servers are retried in the background and logged.</returns>
    /// <exception cref="ObjectDisposedException">The worker has been stopped.</exception>
    public ValueTask StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (_state == Running) return ValueTask.CompletedTask;
            ObjectDisposedException.ThrowIf(_state != Created, this);
            _state = Running;
            Log.Started(Logger, _functions.Count, Endpoints.Count);
            foreach (var lane in _lanes) lane.Start(_stoppingToken);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Stops gracefully: no more grabs, the jobs in flight finish (bounded by
    /// <see cref="GearmanWorkerOptions.ShutdownTimeout"/>), results are flushed and the connections close. Jobs still
    /// running when time is up see their cancellation token fire (the stop then waits up to two more seconds for them to
    /// return), and the servers give them to other workers. Idempotent.
    /// </summary>
    /// <param name="cancellationToken">Ends the graceful wait early, as the timeout does.</param>
    public ValueTask StopAsync(CancellationToken cancellationToken = default)
    {
        Task stop;
        bool first = false;
        lock (_lock)
        {
            if (_stopTask is null)
            {
                first = true;
                bool started = _state == Running;
                _state = Stopping;
                var lanes = _lanes.ToArray();
                if (started)
                {
                    _stopTask = Task.Run(() => StopCoreAsync(lanes, cancellationToken), CancellationToken.None);
                }
                else
                {
                    // Never started: complete the sources so that pipelines linked to them finish.
                    foreach (var lane in lanes) lane.BeginDrain();
                    _stopTask = Task.CompletedTask;
                }
            }

            stop = _stopTask;
        }

        // No grab starts once StopAsync has been called (a grab already sent is still answered and its job run).
        if (first) _stopping.Cancel();
        return new ValueTask(stop);
    }

    /// <summary>Stops gracefully, as <see cref="StopAsync"/>.</summary>
    public ValueTask DisposeAsync() => StopAsync();

    private static IReadOnlyList<ServerEndpoint> Validate(GearmanWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options.Servers);
        ArgumentNullException.ThrowIfNull(options.LoggerFactory);
        ArgumentNullException.ThrowIfNull(options.TimeProvider);
        if (options.Servers.Count == 0) throw new ArgumentException("At least one job server is required.", nameof(options));
        var endpoints = new List<ServerEndpoint>(options.Servers.Count);
        foreach (string server in options.Servers)
        {
            try
            {
                endpoints.Add(ServerEndpoint.Parse(server));
            }
            catch (FormatException ex)
            {
                throw new ArgumentException(ex.Message, nameof(options), ex);
            }
        }

        if (options.ConnectTimeout <= TimeSpan.Zero && options.ConnectTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException("ConnectTimeout must be positive or infinite.", nameof(options));
        }

        if (options.ReconnectDelay <= TimeSpan.Zero || options.MaxReconnectDelay < options.ReconnectDelay)
        {
            throw new ArgumentException("ReconnectDelay must be positive and no more than MaxReconnectDelay.", nameof(options));
        }

        if (options.ShutdownTimeout < TimeSpan.Zero && options.ShutdownTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException("ShutdownTimeout must be zero, positive or infinite.", nameof(options));
        }

        if (options.MaxPacketSize <= 0) throw new ArgumentException("MaxPacketSize must be positive.", nameof(options));
        if (options.ClientId is { } clientId) PacketArgument.ThrowIfContainsNul(clientId, nameof(options), "The client ID (GearmanWorkerOptions.ClientId)");
        return endpoints;
    }

    /// <param name="functions">The names to register.</param>
    /// <param name="options">Their options.</param>
    /// <param name="paramName">The caller's argument that holds the names, for exceptions.</param>
    private static List<RegisteredFunction> ValidateFunctions(IEnumerable<string> functions, GearmanFunctionOptions options, string paramName = "functions")
    {
        ArgumentNullException.ThrowIfNull(functions);
        ArgumentNullException.ThrowIfNull(options);
        if (options.BoundedCapacity < 1) throw new ArgumentException("BoundedCapacity must be at least 1.", nameof(options));
        if (options.MaxDegreeOfParallelism < 1 && options.MaxDegreeOfParallelism != DataflowBlockOptions.Unbounded)
        {
            throw new ArgumentException("MaxDegreeOfParallelism must be at least 1, or DataflowBlockOptions.Unbounded.", nameof(options));
        }

        if (options.Timeout is { } timeout && timeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Timeout must be positive, or null for none.", nameof(options));
        }

        var registered = new List<RegisteredFunction>();
        foreach (string function in functions)
        {
            ArgumentException.ThrowIfNullOrEmpty(function, paramName);
            PacketArgument.ThrowIfContainsNul(function, paramName, "A function name");
            if (registered.Exists(f => f.Name == function)) throw new ArgumentException($"Function '{function}' is listed twice.", paramName);
            registered.Add(new RegisteredFunction(function, options.Timeout, options.TraceContext));
        }

        if (registered.Count == 0) throw new ArgumentException("At least one function is required.", paramName);
        return registered;
    }

    private static async Task RunHandlerAsync(GearmanJob job, Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> handler)
    {
        var lane = job.Connection.Lane;
        bool released = false;
        using var activity = GearmanTracing.StartProcess(job);
        try
        {
            // A job taken away while it waited in the block (lost connection, timeout, stop) is not started.
            if (!job.IsEnded)
            {
                var result = await handler(job, job.CancellationToken).ConfigureAwait(false);

                // Back-pressure, as in CompleteAsync: the result waits while the server does not read.
                using (await job.Connection.Outbox.WaitForRoomAsync(job.CancellationToken).ConfigureAwait(false))
                {
                    // The credit goes straight to the waiting grab loop, which queues its GRAB_JOB_ALL on this thread:
                    // the result and the next grab leave in one write, with no thread hop in between.
                    using (PacketOutbox.SendInline())
                    {
                        job.Complete(result.Span);
                        released = true;
                        lane.Release(runWaiterInline: true);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (job.CancellationToken.IsCancellationRequested)
        {
            // The job was taken away and the handler honoured its token: nothing to send.
        }
        catch (GearmanJobRetryException ex)
        {
            GearmanTracing.Failed(activity, ex);
            Log.JobRetried(lane.Worker.Logger, job.Handle, job.Function, job.Connection.Endpoint, ex);
            await job.RetryAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var worker = lane.Worker;
            GearmanTracing.Failed(activity, ex);
            Log.HandlerFailed(worker.Logger, job.Handle, job.Function, ex);
            if (worker.Options.SendExceptions) await job.FailWithExceptionAsync(ex.Message).ConfigureAwait(false);
            else await job.FailAsync().ConfigureAwait(false);
        }
        finally
        {
            if (!released) lane.Release();
        }
    }

    private JobSource AddJobsLane(List<RegisteredFunction> registered, GearmanFunctionOptions options)
    {
        var buffer = new BufferBlock<GearmanJob>(new DataflowBlockOptions { BoundedCapacity = options.BoundedCapacity, EnsureOrdered = true });
        AddLane(registered, options.BoundedCapacity, buffer, releasesOnJobEnd: true);
        return new JobSource(buffer);
    }

    private void AddLane(List<RegisteredFunction> functions, int capacity, ITargetBlock<GearmanJob> target, bool releasesOnJobEnd)
    {
        var lane = new WorkerLane(this, functions, capacity, target, releasesOnJobEnd);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_state == Stopping, this);
            foreach (var f in functions)
            {
                if (_functions.Contains(f.Name)) throw new InvalidOperationException($"Function '{f.Name}' is already registered on this worker.");
            }

            foreach (var f in functions) _functions.Add(f.Name);
            _lanes.Add(lane);
            if (_state == Running) lane.Start(_stoppingToken);
        }
    }

    /// <summary>How long a stop that ran out of time waits for handlers whose token it cancelled.</summary>
    private static readonly TimeSpan CancelledHandlerGrace = TimeSpan.FromSeconds(2);

    private async Task StopCoreAsync(WorkerLane[] lanes, CancellationToken cancellationToken)
    {
        Log.Stopping(Logger, lanes.Sum(l => l.InFlight), Options.ShutdownTimeout);

        using var deadlineCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Real time, not Options.TimeProvider: a stop must end even when a test's fake clock stands still.
        var deadline = Task.Delay(Options.ShutdownTimeout, deadlineCancel.Token);

        // 1. Stop grabbing; a grab already sent is answered and its job delivered.
        await Task.WhenAny(Task.WhenAll(lanes.Select(l => l.GrabbingStopped)), deadline).ConfigureAwait(false);

        // 2. Let the blocks finish what they hold.
        foreach (var lane in lanes) lane.BeginDrain();
        var drained = Task.WhenAll(lanes.Select(l => l.Drained));
        await Task.WhenAny(drained, deadline).ConfigureAwait(false);
        if (!drained.IsCompleted)
        {
            int abandoned = lanes.Sum(l => l.AbandonAll());
            Log.StopTimedOut(Logger, abandoned);
            await _aborting.CancelAsync().ConfigureAwait(false);

            // Give the cancelled handlers a moment to return, so they are not still running after StopAsync.
            await Task.WhenAny(drained, Task.Delay(CancelledHandlerGrace, CancellationToken.None)).ConfigureAwait(false);
        }

        await deadlineCancel.CancelAsync().ConfigureAwait(false);

        // 3. Flush results and close; the server requeues whatever was not finished.
        foreach (var lane in lanes) await lane.CloseAsync().ConfigureAwait(false);
        Log.Stopped(Logger);
    }
}
