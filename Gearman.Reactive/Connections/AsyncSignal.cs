using System.Threading.Tasks.Sources;

namespace Gearman.Reactive.Connections;

/// <summary>
/// A reusable, allocation-free auto-reset signal for exactly one waiter (a write loop). <see cref="Set()"/> may be called
/// from any thread, any number of times; a set that happens while nobody waits is remembered once.
/// </summary>
internal sealed class AsyncSignal : IValueTaskSource
{
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Signaled = 2;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _state;
    private CancellationTokenRegistration _registration;

    /// <summary>Whether a wait is outstanding (for tests: a write loop that is idle).</summary>
    internal bool HasWaiter => Volatile.Read(ref _state) == Waiting;

    /// <summary>Wakes the waiter on the thread pool, or makes the next wait complete at once.</summary>
    public void Set() => Set(runWaiterInline: false);

    /// <summary>
    /// Wakes the waiter, or makes the next wait complete at once. With <paramref name="runWaiterInline"/> the waiter's
    /// continuation runs on this thread before <see cref="Set(bool)"/> returns (no thread-pool hop); call it that way
    /// only outside locks the waiter might take.
    /// </summary>
    public void Set(bool runWaiterInline)
    {
        while (true)
        {
            int state = Volatile.Read(ref _state);
            if (state == Signaled) return;
            if (state == Waiting)
            {
                if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
                {
                    // Only the thread that won the exchange completes the wait, so this field is not raced.
                    _core.RunContinuationsAsynchronously = !runWaiterInline;
                    _core.SetResult(true);
                    return;
                }
            }
            else if (Interlocked.CompareExchange(ref _state, Signaled, Idle) == Idle)
            {
                return;
            }
        }
    }

    /// <summary>Waits for the next <see cref="Set()"/>. Only one wait may be outstanding.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Signaled) == Signaled) return ValueTask.CompletedTask;
        cancellationToken.ThrowIfCancellationRequested();
        _core.Reset();
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) != Idle)
        {
            // A Set raced in between: consume it.
            Volatile.Write(ref _state, Idle);
            return ValueTask.CompletedTask;
        }

        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(
                static (s, ct) =>
                {
                    var self = (AsyncSignal)s!;
                    if (Interlocked.CompareExchange(ref self._state, Idle, Waiting) == Waiting)
                    {
                        self._core.RunContinuationsAsynchronously = true;
                        self._core.SetException(new OperationCanceledException(ct));
                    }
                },
                this);
        }

        return new ValueTask(this, _core.Version);
    }

    void IValueTaskSource.GetResult(short token)
    {
        _registration.Dispose();
        _registration = default;
        _core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
