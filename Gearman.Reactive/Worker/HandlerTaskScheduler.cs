using Gearman.Reactive.Connections;

namespace Gearman.Reactive.Worker;

/// <summary>
/// The thread pool, for the handler blocks of <c>AddFunction</c>: a handler task started while a read loop hands over a
/// JOB_ASSIGN runs on that read loop's thread once the loop has armed its next read (see <see cref="ReadLoopWork"/>),
/// instead of waking another pool thread. Anything else goes to the pool (long-running tasks to their own thread), as
/// with <see cref="TaskScheduler.Default"/>: handlers see this scheduler as <see cref="TaskScheduler.Current"/>.
/// </summary>
internal sealed class HandlerTaskScheduler : TaskScheduler
{
    public static readonly HandlerTaskScheduler Instance = new();

    private HandlerTaskScheduler()
    {
    }

    /// <inheritdoc />
    public override int MaximumConcurrencyLevel => int.MaxValue;

    /// <inheritdoc />
    protected override void QueueTask(Task task)
    {
        // Handlers see this scheduler as TaskScheduler.Current, so it must behave as the default one for what they start.
        if ((task.CreationOptions & TaskCreationOptions.LongRunning) != 0)
        {
            new Thread(static t => Instance.TryExecuteTask((Task)t!)) { IsBackground = true, Name = "Gearman long-running task" }.Start(task);
            return;
        }

        if (ReadLoopWork.TryDefer(static t => Instance.TryExecuteTask((Task)t!), task)) return;
        ThreadPool.UnsafeQueueUserWorkItem(static t => Instance.TryExecuteTask(t), task, preferLocal: false);
    }

    /// <inheritdoc />
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

    /// <inheritdoc />
    protected override IEnumerable<Task>? GetScheduledTasks() => null;
}
