namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// Work made ready by the packets of one read, run by the reader thread itself right after it has handled them and
/// before it reads again, instead of being handed to the thread pool. It is what lets a foreground job cost no
/// thread hand-over: the reply's continuation (or the job's handler) runs on the thread that read it, and what it
/// sends goes out from there, as libgearman does on the caller's thread.
/// </summary>
/// <remarks>
/// <para>
/// Two kinds of work are kept: the SDK's own short, non-blocking steps (an outbox's write loop, so the sends of one read
/// leave in one write), any number of them; and at most one piece of user code per read (a waiting consumer's
/// continuation, or a handler's start), so that several jobs made ready by one read still run in parallel: the others
/// go to the pool as before.
/// </para>
/// <para>
/// User code may block, even on a reply that only this connection can read. <see cref="ReaderWatchdog"/> therefore
/// watches every reader that is running user code, and when one has been at it for longer than a short threshold, a new
/// reader thread takes the connection over; the old thread finishes the user code and ends.
/// </para>
/// </remarks>
internal sealed class ReaderDelivery
{
    [ThreadStatic]
    private static ReaderDelivery? _collecting;

    private readonly List<(Action<object?> Work, object? State)> _own = [];
    private Action<object?>? _userWork;
    private object? _userState;

    /// <summary>Whether the last read made work ready.</summary>
    public bool HasWork => _own.Count > 0 || _userWork is not null;

    /// <summary>
    /// On a reader thread that is handling packets: keeps <paramref name="work"/> to run once they are handled, and
    /// returns true. Elsewhere, or for a second piece of user code in the same read, returns false: the caller does
    /// what it does without a reader (wakes the pool).
    /// </summary>
    /// <param name="work">What to run (a static lambda, so that deferring allocates nothing).</param>
    /// <param name="state">Its argument.</param>
    /// <param name="userCode">
    /// True when <paramref name="work"/> runs code outside the SDK (it may take long or block); false for the SDK's own
    /// non-blocking steps. The same own step deferred twice in one read runs once.
    /// </param>
    public static bool TryDefer(Action<object?> work, object? state, bool userCode)
    {
        var delivery = _collecting;
        if (delivery is null) return false;
        if (userCode)
        {
            if (delivery._userWork is not null) return delivery._userWork == work && ReferenceEquals(delivery._userState, state);
            delivery._userWork = work;
            delivery._userState = state;
            return true;
        }

        foreach (var (ownWork, ownState) in delivery._own)
        {
            if (ownWork == work && ReferenceEquals(ownState, state)) return true;
        }

        delivery._own.Add((work, state));
        return true;
    }

    /// <summary>Starts collecting on this (reader) thread; dispose the returned scope when the read's packets are handled.</summary>
    public CollectScope Collect()
    {
        _collecting = this;
        return default;
    }

    /// <summary>Runs what the read made ready: the SDK's own steps first (they send), then the user code.</summary>
    public void Run()
    {
        // Indexed, not enumerated: an own step may defer nothing (collection has ended), but stay safe if it ever does.
        for (int i = 0; i < _own.Count; i++)
        {
            var (work, state) = _own[i];
            work(state);
        }

        _own.Clear();
        var userWork = _userWork;
        var userState = _userState;
        _userWork = null;
        _userState = null;
        userWork?.Invoke(userState);
    }

    /// <summary>Ends collection on this thread.</summary>
    internal static void EndCollect() => _collecting = null;

    /// <summary>Ends a <see cref="Collect"/> scope.</summary>
    internal readonly struct CollectScope : IDisposable
    {
        public void Dispose() => EndCollect();
    }
}
