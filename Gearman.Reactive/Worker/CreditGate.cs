using System.Threading.Tasks.Sources;

namespace Gearman.Reactive.Worker;

/// <summary>
/// A lane's capacity credits: an async counting semaphore whose waiters (one per grab loop) are reusable and can be
/// resumed on the releasing thread. A job that ends can thus hand its credit straight to a waiting grab loop, which
/// queues its next <c>GRAB_JOB_ALL</c> on the same thread, in the same write as the job's result.
/// </summary>
internal sealed class CreditGate
{
    private readonly Lock _lock = new();
    private readonly LinkedList<CreditWaiter> _waiters = new();
    private int _available;

    public CreditGate(int credits)
    {
        _available = credits;
    }

    /// <summary>Grab loops waiting for a credit (for tests).</summary>
    internal int WaiterCount
    {
        get
        {
            lock (_lock) return _waiters.Count;
        }
    }

    /// <summary>Takes a credit, waiting for one if none is free. <paramref name="waiter"/> may have one wait outstanding.</summary>
    public ValueTask AcquireAsync(CreditWaiter waiter, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_available > 0)
            {
                _available--;
                return ValueTask.CompletedTask;
            }

            if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
            waiter.Prepare(this);
            _waiters.AddLast(waiter.Node);
        }

        return waiter.Wait(cancellationToken);
    }

    /// <summary>
    /// Returns a credit: to the oldest waiter if there is one, whose continuation runs on this thread when
    /// <paramref name="runWaiterInline"/> (call it that way only outside locks, from code that can afford to run a grab
    /// loop's next step), otherwise on the thread pool.
    /// </summary>
    public void Release(bool runWaiterInline = false)
    {
        CreditWaiter? waiter;
        lock (_lock)
        {
            var first = _waiters.First;
            if (first is null)
            {
                _available++;
                return;
            }

            _waiters.Remove(first);
            waiter = first.Value;
        }

        waiter.Grant(runWaiterInline);
    }

    /// <summary>Removes a cancelled waiter; false when a release already took it off the list.</summary>
    internal bool TryCancel(CreditWaiter waiter)
    {
        lock (_lock)
        {
            if (waiter.Node.List is null) return false;
            _waiters.Remove(waiter.Node);
            return true;
        }
    }
}

/// <summary>A grab loop's reusable wait for a <see cref="CreditGate"/> credit.</summary>
internal sealed class CreditWaiter : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CreditGate? _gate;
    private CancellationTokenRegistration _registration;

    public CreditWaiter()
    {
        Node = new LinkedListNode<CreditWaiter>(this);
    }

    internal LinkedListNode<CreditWaiter> Node { get; }

    void IValueTaskSource.GetResult(short token)
    {
        _registration.Dispose();
        _registration = default;
        _core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    /// <summary>Under the gate's lock, before the waiter is listed.</summary>
    internal void Prepare(CreditGate gate)
    {
        _gate = gate;
        _core.Reset();
    }

    internal ValueTask Wait(CancellationToken cancellationToken)
    {
        var version = _core.Version;
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(
                static (s, ct) =>
                {
                    var self = (CreditWaiter)s!;
                    if (!self._gate!.TryCancel(self)) return;
                    self._core.RunContinuationsAsynchronously = true;
                    self._core.SetException(new OperationCanceledException(ct));
                },
                this);
        }

        return new ValueTask(this, version);
    }

    /// <summary>Called once per wait, by the release that took the waiter off the list.</summary>
    internal void Grant(bool runInline)
    {
        _core.RunContinuationsAsynchronously = !runInline;
        _core.SetResult(true);
    }
}
