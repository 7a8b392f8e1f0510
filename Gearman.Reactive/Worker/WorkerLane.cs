using System.Threading.Tasks.Dataflow;

namespace Gearman.Reactive.Worker;

/// <summary>
/// A set of functions that share one capacity and one target block, with its own connection to every job server.
/// </summary>
/// <remarks>
/// <para>
/// <c>GRAB_JOB_ALL</c> returns a job of any function registered on the connection, so one connection can only honour
/// one capacity. Giving every registration (<c>AddFunction</c> or <c>Jobs</c>) its own connections keeps each
/// function's capacity exact without holding a grabbed job that its block cannot take (which would stall the other
/// functions) and without <c>CANT_DO</c> (which makes gearmand requeue the jobs of that function the connection is
/// running, protocol.md §2.6).
/// </para>
/// <para>
/// Capacity is a count of credits. A session takes one before each grab; a grab answered by <c>NO_JOB</c> gives it
/// back; an assigned job keeps it until the job ends (<see cref="ReleasesOnJobEnd"/>) or, for handler blocks, until the
/// handler has returned.
/// </para>
/// </remarks>
internal sealed class WorkerLane
{
    private readonly Dictionary<string, RegisteredFunction> _byName;
    private readonly CreditGate _credits;
    private readonly List<WorkerSession> _sessions = [];
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _stopping;
    private int _held;
    private int _draining;

    public WorkerLane(GearmanWorker worker, IReadOnlyList<RegisteredFunction> functions, int capacity, ITargetBlock<GearmanJob> target, bool releasesOnJobEnd)
    {
        Worker = worker;
        Functions = functions;
        Capacity = capacity;
        Target = target;
        ReleasesOnJobEnd = releasesOnJobEnd;
        _byName = functions.ToDictionary(f => f.Name, StringComparer.Ordinal);
        _credits = new CreditGate(capacity);
        Description = string.Join(", ", functions.Select(f => f.Name));
        foreach (var endpoint in worker.Endpoints) _sessions.Add(new WorkerSession(this, endpoint));
    }

    public GearmanWorker Worker { get; }

    public IReadOnlyList<RegisteredFunction> Functions { get; }

    public int Capacity { get; }

    /// <summary>Where assigned jobs go: the handler block of <c>AddFunction</c> or the buffer behind <c>Jobs</c>.</summary>
    public ITargetBlock<GearmanJob> Target { get; }

    /// <summary>True when a job's credit returns as the job ends; false when the handler wrapper returns it.</summary>
    public bool ReleasesOnJobEnd { get; }

    /// <summary>The function names, for logs.</summary>
    public string Description { get; }

    /// <summary>Jobs (and grabs awaiting a reply) currently holding a credit.</summary>
    public int InFlight => Volatile.Read(ref _held);

    /// <summary>Completes once every session has stopped grabbing.</summary>
    public Task GrabbingStopped => Task.WhenAll(_sessions.Select(s => s.Running));

    /// <summary>Completes once draining has begun and no credit is held.</summary>
    public Task Drained => _drained.Task;

    public RegisteredFunction? Find(string function) => _byName.GetValueOrDefault(function);

    /// <summary>Starts a session per server; grabbing stops when <paramref name="stopping"/> fires or the target completes early.</summary>
    public void Start(CancellationToken stopping)
    {
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var token = _stopping.Token;
        _ = Target.Completion.ContinueWith(
            static (t, s) => ((WorkerLane)s!).OnTargetCompleted(t),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        GearmanWorker.Log.LaneStarted(Worker.Logger, Description, Capacity, Worker.Endpoints.Count);
        foreach (var session in _sessions) session.Start(token);
    }

    /// <summary>
    /// Takes a credit for a grab; <paramref name="waiter"/> is the grab loop's own. Call <see cref="Acquired"/> once it
    /// completes. (Not an async wrapper: a credit handed over by a handler running in a block's task must resume the
    /// grab loop inline, and a Task-based wrapper's continuation is never inlined under a non-default TaskScheduler.)
    /// </summary>
    public ValueTask AcquireAsync(CreditWaiter waiter, CancellationToken cancellationToken) => _credits.AcquireAsync(waiter, cancellationToken);

    /// <summary>Counts the credit an <see cref="AcquireAsync"/> took as held.</summary>
    public void Acquired() => Interlocked.Increment(ref _held);

    /// <summary>
    /// Returns a credit. With <paramref name="runWaiterInline"/>, a grab loop waiting for it runs on to its next grab on
    /// this thread (see <see cref="CreditGate.Release"/>); pass it only from a job's end, outside locks.
    /// </summary>
    public void Release(bool runWaiterInline = false)
    {
        int held = Interlocked.Decrement(ref _held);
        _credits.Release(runWaiterInline);
        if (held == 0 && Volatile.Read(ref _draining) != 0) _drained.TrySetResult();
    }

    /// <summary>Called by every job as it ends; <paramref name="runWaiterInline"/> as for <see cref="Release"/>.</summary>
    public void OnJobEnded(GearmanJob job, bool runWaiterInline = false)
    {
        if (ReleasesOnJobEnd) Release(runWaiterInline);
    }

    /// <summary>Grabbing has stopped: completes the target (the handler block finishes what it holds) and waits for the credits to return.</summary>
    public void BeginDrain()
    {
        Interlocked.Exchange(ref _draining, 1);
        Target.Complete();
        if (Volatile.Read(ref _held) == 0) _drained.TrySetResult();
    }

    /// <summary>Takes away every job still running (the stop timed out); returns how many.</summary>
    public int AbandonAll() => _sessions.Sum(s => s.AbandonAll());

    public async ValueTask CloseAsync()
    {
        foreach (var session in _sessions) await session.CloseAsync().ConfigureAwait(false);
        _stopping?.Dispose();
    }

    private void OnTargetCompleted(Task completion)
    {
        var stopping = _stopping;
        if (stopping is null || Volatile.Read(ref _draining) != 0) return;
        GearmanWorker.Log.TargetCompleted(Worker.Logger, Description, completion.Exception?.GetBaseException());
        try
        {
            stopping.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
