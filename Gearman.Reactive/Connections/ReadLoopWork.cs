using System.Runtime.CompilerServices;

namespace Gearman.Reactive.Connections;

/// <summary>
/// Work that a read loop's packets made ready (a consumer to resume, a handler to start), run on the read loop's thread
/// once the loop has armed its next read, instead of being handed to another thread-pool thread.
/// </summary>
/// <remarks>
/// While a read loop handles one buffer, the first piece of work that would be queued to the thread pool is kept
/// instead (later ones are queued as usual, so a burst still spreads over the pool). When the loop then awaits its next
/// read and the read is pending, the kept work runs on this thread after the continuation has been registered: the
/// read loop resumes elsewhere when data arrives, so the work (user code) can block without stalling the connection,
/// exactly as on any pool thread, but without waking one. If the next read completes at once, the work is queued.
/// </remarks>
internal static class ReadLoopWork
{
    [ThreadStatic]
    private static bool _active;

    [ThreadStatic]
    private static Action<object?>? _action;

    [ThreadStatic]
    private static object? _state;

    /// <summary>Keeps <paramref name="action"/> to run after the current read loop's next read is armed; false when there is no such loop on this thread or it already keeps a piece of work.</summary>
    public static bool TryDefer(Action<object?> action, object? state)
    {
        if (!_active || _action is not null) return false;
        _action = action;
        _state = state;
        return true;
    }

    /// <summary>Called by a read loop before it hands a buffer's packets on.</summary>
    internal static void Begin() => _active = true;

    /// <summary>Called by a read loop after the buffer; returns the kept work, if any.</summary>
    internal static Deferred End()
    {
        var deferred = new Deferred(_action, _state);
        _active = false;
        _action = null;
        _state = null;
        return deferred;
    }

    /// <summary>A kept piece of work.</summary>
    internal readonly record struct Deferred(Action<object?>? Action, object? State)
    {
        /// <summary>Hands the work to the thread pool (the loop ends, or its next read completed at once).</summary>
        public void Queue()
        {
            if (Action is { } action) ThreadPool.UnsafeQueueUserWorkItem(action, State, preferLocal: true);
        }
    }

    /// <summary>Awaits a read, running <paramref name="deferred"/> on this thread once the read's continuation is registered.</summary>
    internal readonly struct ArmedRead<T>(ValueTask<T> read, Deferred deferred) : ICriticalNotifyCompletion
    {
        private readonly ConfiguredValueTaskAwaitable<T>.ConfiguredValueTaskAwaiter _awaiter = read.ConfigureAwait(false).GetAwaiter();

        public bool IsCompleted
        {
            get
            {
                if (!_awaiter.IsCompleted) return false;
                deferred.Queue();
                return true;
            }
        }

        public ArmedRead<T> GetAwaiter() => this;

#pragma warning disable VSTHRD002 // An awaiter's GetResult: called by the await, after completion.
        public T GetResult() => _awaiter.GetResult();
#pragma warning restore VSTHRD002

        public void OnCompleted(Action continuation)
        {
            _awaiter.OnCompleted(continuation);
            deferred.Action?.Invoke(deferred.State);
        }

        public void UnsafeOnCompleted(Action continuation)
        {
            _awaiter.UnsafeOnCompleted(continuation);
            deferred.Action?.Invoke(deferred.State);
        }
    }
}
