namespace Gearman.Reactive.Client;

/// <summary>
/// One consumer of a job's events: one subscription of a <see cref="GearmanClient.Submit"/> observable or one call of
/// an awaitable helper. The connection's read loop writes events into its <see cref="TaskEventQueue"/>; the consumer is
/// the only reader, so it never sees concurrent or post-terminal notifications.
/// </summary>
internal sealed class TaskSubscription
{
    private readonly TaskEventQueue _events = new();
    private readonly int _ignored;
    private ClientJob? _job;
    private int _detached;

    /// <summary>A consumer that sees every event.</summary>
    public TaskSubscription()
    {
    }

    /// <summary>
    /// A consumer that looks at only some kinds of event: the others are dropped as they are published, so that they
    /// neither queue nor wake the consumer. The terminal notification always arrives.
    /// </summary>
    public TaskSubscription(params ReadOnlySpan<TaskEventKind> ignored)
    {
        foreach (var kind in ignored) _ignored |= 1 << (int)kind;
    }

    public TaskEventQueue Events => _events;

    public bool IsDetached => Volatile.Read(ref _detached) != 0;

    /// <summary>The job this subscription currently follows (it moves when a job is coalesced into another).</summary>
    public ClientJob? Job
    {
        get => Volatile.Read(ref _job);
        set => Volatile.Write(ref _job, value);
    }

    /// <summary>The task's span while it is traced (set before the submit, ended by the consumer), else null.</summary>
    public System.Diagnostics.Activity? Activity { get; set; }

    public void Publish(in TaskEvent e)
    {
        if (Activity is { } activity) Gearman.Reactive.Diagnostics.GearmanTracing.OnTaskEvent(activity, e);
        if ((_ignored & (1 << (int)e.Kind)) == 0) _events.TryWrite(e);
    }

    /// <summary>Ends the stream: without an error after the last event, or with the job's failure.</summary>
    public void Complete(Exception? error) => _events.TryComplete(error);

    /// <summary>The consumer has gone: stop delivering. Gearman cannot cancel a job, so the job itself keeps running.</summary>
    public void Detach()
    {
        if (Interlocked.Exchange(ref _detached, 1) != 0) return;
        Job?.RemoveSubscriber(this);
        _events.Release();
    }
}
