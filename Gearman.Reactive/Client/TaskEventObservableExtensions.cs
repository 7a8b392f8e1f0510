using System.Buffers;
using System.Reactive.Linq;

namespace Gearman.Reactive.Client;

/// <summary>The little that plain Rx lacks for task event streams.</summary>
public static class TaskEventObservableExtensions
{
    /// <summary>
    /// The job's result as one value: the payloads of its <see cref="TaskEventKind.Data"/> events followed by the
    /// <see cref="TaskEventKind.Completed"/> payload (as <see cref="GearmanClient.ExecuteAsync"/> and libgearman's
    /// <c>gearman_client_do</c>), emitted when the job completes. Failures pass through as OnError. Handy with
    /// <c>ForkJoin</c>, <c>Merge</c> and <c>Zip</c> over a batch.
    /// </summary>
    /// <param name="task">A task's events, typically from <see cref="GearmanClient.Submit"/>.</param>
    public static IObservable<ReadOnlyMemory<byte>> ToResult(this IObservable<TaskEvent> task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return Observable.Create<ReadOnlyMemory<byte>>(observer =>
        {
            ArrayBufferWriter<byte>? data = null;
            return task.Subscribe(
                e =>
                {
                    if (e.Kind == TaskEventKind.Data)
                    {
                        (data ??= new ArrayBufferWriter<byte>()).Write(e.Data.Span);
                    }
                    else if (e.Kind == TaskEventKind.Completed)
                    {
                        if (data is null)
                        {
                            observer.OnNext(e.Data);
                        }
                        else
                        {
                            data.Write(e.Data.Span);
                            observer.OnNext(data.WrittenMemory);
                        }
                    }
                },
                observer.OnError,
                observer.OnCompleted);
        });
    }
}
