using System.Threading.Channels;

namespace Gearman.Reactive.Client;

/// <summary>
/// One consumer of a job's events: one subscription of a <see cref="GearmanClient.Submit"/> observable or one call of
/// an awaitable helper. The connection's read loop writes events into an unbounded single-reader channel; the consumer
/// is the only reader, so it never sees concurrent or post-terminal notifications. Unbounded, because a bounded channel
/// would make one slow consumer stall the read loop of every job on its connection; a job's events are bounded by what
/// its worker sends.
/// </summary>
internal sealed class TaskSubscription
{
    private static readonly UnboundedChannelOptions ChannelOptions = new()
    {
        SingleReader = true,
        SingleWriter = false,
        AllowSynchronousContinuations = false,
    };

    private readonly Channel<TaskEvent> _events = Channel.CreateUnbounded<TaskEvent>(ChannelOptions);
    private ClientJob? _job;
    private int _detached;

    public ChannelReader<TaskEvent> Events => _events.Reader;

    public bool IsDetached => Volatile.Read(ref _detached) != 0;

    /// <summary>The job this subscription currently follows (it moves when a job is coalesced into another).</summary>
    public ClientJob? Job
    {
        get => Volatile.Read(ref _job);
        set => Volatile.Write(ref _job, value);
    }

    public void Publish(in TaskEvent e) => _events.Writer.TryWrite(e);

    /// <summary>Ends the stream: without an error after the last event, or with the job's failure.</summary>
    public void Complete(Exception? error) => _events.Writer.TryComplete(error);

    /// <summary>The consumer has gone: stop delivering. Gearman cannot cancel a job, so the job itself keeps running.</summary>
    public void Detach()
    {
        if (Interlocked.Exchange(ref _detached, 1) != 0) return;
        Job?.RemoveSubscriber(this);
        _events.Writer.TryComplete();
    }
}
