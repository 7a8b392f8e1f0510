namespace Gearman.Reactive.Client;

/// <summary>Where a <see cref="ClientJob"/> is in its life.</summary>
internal enum JobState
{
    /// <summary>Not on any connection: new, or moving to another server after its server died before JOB_CREATED.</summary>
    Queued,

    /// <summary>Submitted on a connection; waiting for JOB_CREATED (or ERROR).</summary>
    AwaitingCreated,

    /// <summary>Created (foreground): its WORK_* packets are matched by handle.</summary>
    Running,

    /// <summary>Finished, failed or discarded: it publishes nothing more.</summary>
    Done,
}

/// <summary>
/// One submission of a job on one connection: the server-side attachment, shared by every local consumer that
/// coalesced into it. State changes happen under the lock of the <see cref="ServerSession"/> that holds the job;
/// the subscriber list is copy-on-write so that consumers can leave from any thread without that lock.
/// A job whose consumers have all gone stays registered until its last packet, because the server keeps sending
/// (Gearman cannot cancel or detach a job) and a later submit with the same unique ID must join it, not attach twice.
/// </summary>
internal sealed class ClientJob : PendingRequest
{
    private TaskSubscription[] _subscribers;

    public ClientJob(SubmitRequest request, TaskSubscription first)
    {
        Request = request;
        GeneratedUnique = request.Unique is null ? RandomUniqueIds.Next() : default;
        _subscribers = [first];
        first.Job = this;
    }

    public override PendingKind Kind => PendingKind.Submit;

    public SubmitRequest Request { get; }

    /// <summary>The unique ID sent when the caller gave none (libgearman sends a fresh UUID too, protocol.md §5.1).</summary>
    public Guid GeneratedUnique { get; }

    /// <summary>Servers this job was already submitted to (bit per server index): a retry goes elsewhere.</summary>
    public ulong TriedServers { get; set; }

    /// <summary>The session that holds the job while it is <see cref="JobState.AwaitingCreated"/> or <see cref="JobState.Running"/>.</summary>
    public ServerSession? Session { get; set; }

    public JobState State { get; set; }

    /// <summary>Set on JOB_CREATED.</summary>
    public JobHandle Handle { get; set; }

    /// <summary>Whether any consumer still listens.</summary>
    public bool HasSubscribers
    {
        get
        {
            foreach (var s in Volatile.Read(ref _subscribers))
            {
                if (!s.IsDetached) return true;
            }

            return false;
        }
    }

    public void AddSubscriber(TaskSubscription subscription)
    {
        while (true)
        {
            var current = Volatile.Read(ref _subscribers);
            TaskSubscription[] next = [.. current, subscription];
            if (Interlocked.CompareExchange(ref _subscribers, next, current) == current) break;
        }

        subscription.Job = this;
        if (subscription.IsDetached) RemoveSubscriber(subscription);
    }

    public void RemoveSubscriber(TaskSubscription subscription)
    {
        while (true)
        {
            var current = Volatile.Read(ref _subscribers);
            int index = Array.IndexOf(current, subscription);
            if (index < 0) return;
            TaskSubscription[] next = current.Length == 1 ? [] : new TaskSubscription[current.Length - 1];
            current.AsSpan(0, index).CopyTo(next);
            current.AsSpan(index + 1).CopyTo(next.AsSpan(index));
            if (Interlocked.CompareExchange(ref _subscribers, next, current) == current) return;
        }
    }

    /// <summary>Moves every consumer of this (discarded) job to <paramref name="target"/>; returns them.</summary>
    public TaskSubscription[] MoveSubscribersTo(ClientJob target)
    {
        var moved = Interlocked.Exchange(ref _subscribers, []);
        foreach (var s in moved)
        {
            if (!s.IsDetached) target.AddSubscriber(s);
        }

        return moved;
    }

    public void Publish(in TaskEvent e)
    {
        foreach (var s in Volatile.Read(ref _subscribers))
        {
            if (!s.IsDetached) s.Publish(e);
        }
    }

    /// <summary>Ends every consumer's stream; <paramref name="error"/> null means completed.</summary>
    public void Complete(Exception? error)
    {
        State = JobState.Done;
        foreach (var s in Volatile.Read(ref _subscribers)) s.Complete(error);
    }

    public override void OnServerError(GearmanServerErrorException error) => Complete(error);

    public override void OnProtocolError(GearmanProtocolException error) => Complete(error);
}
