namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// The scheduler of the blocks the worker builds for its handlers: a task queued while a reader thread handles a read
/// (a handler made ready by <c>JOB_ASSIGN</c>) runs on that thread once the read is handled (<see cref="ReaderDelivery"/>);
/// any other task goes to the thread pool, as with <see cref="TaskScheduler.Default"/>.
/// </summary>
internal sealed class ReaderTaskScheduler : TaskScheduler
{
    public static readonly ReaderTaskScheduler Instance = new();

    private ReaderTaskScheduler()
    {
    }

    protected override void QueueTask(Task task)
    {
        if (ReaderDelivery.TryDefer(static t => Instance.TryExecuteTask((Task)t!), task, DeferredKind.Handler)) return;
        ThreadPool.UnsafeQueueUserWorkItem(static t => Instance.TryExecuteTask(t), task, preferLocal: false);
    }

    // Never inline: the caller may be a reader thread in the middle of a read.
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

    protected override IEnumerable<Task>? GetScheduledTasks() => null;
}
