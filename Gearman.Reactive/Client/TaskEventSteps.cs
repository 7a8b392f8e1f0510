using System.Buffers;

namespace Gearman.Reactive.Client;

/// <summary>
/// What one kind of consumer does with a job's events, for <c>GearmanClient.RunAsync</c>: implemented by structs, so
/// that the run loop is specialised for each and the per-event call is direct and allocation-free.
/// </summary>
/// <typeparam name="TResult">What the run returns.</typeparam>
internal interface ITaskEventStep<TResult>
{
    /// <summary>Handles one event; true ends the run with <paramref name="result"/>.</summary>
    bool OnEvent(in TaskEvent e, out TResult result);

    /// <summary>The stream ended (without an error) before <see cref="OnEvent"/> returned true: the result, or throw.</summary>
    TResult OnEnded(SubmitRequest request);
}

/// <summary>A <see cref="GearmanClient.Submit"/> subscription: every event goes to the observer.</summary>
internal readonly struct ObserveStep(IObserver<TaskEvent> observer) : ITaskEventStep<bool>
{
    public bool OnEvent(in TaskEvent e, out bool result)
    {
        observer.OnNext(e);
        result = false;
        return false;
    }

    public bool OnEnded(SubmitRequest request) => true;
}

/// <summary>
/// <see cref="GearmanClient.ExecuteAsync"/>: collects data chunks, reports status, and returns the data followed by the
/// result (as libgearman's <c>gearman_client_do</c>). Mutable: it lives in the run's state machine.
/// </summary>
internal struct ExecuteStep(IProgress<JobProgress>? progress) : ITaskEventStep<ReadOnlyMemory<byte>>
{
    private ArrayBufferWriter<byte>? _data;

    public bool OnEvent(in TaskEvent e, out ReadOnlyMemory<byte> result)
    {
        switch (e.Kind)
        {
            case TaskEventKind.Data:
                (_data ??= new ArrayBufferWriter<byte>()).Write(e.Data.Span);
                break;
            case TaskEventKind.Status:
                progress?.Report(e.Progress);
                break;
            case TaskEventKind.Completed when _data is null:
                result = e.Data;
                return true;
            case TaskEventKind.Completed:
                _data.Write(e.Data.Span);
                result = _data.WrittenMemory;
                return true;
        }

        result = default;
        return false;
    }

    public readonly ReadOnlyMemory<byte> OnEnded(SubmitRequest request)
        => throw new GearmanException($"The job of '{request.Function}' ended without a result.");
}

/// <summary><see cref="GearmanClient.SubmitBackgroundAsync"/>: the run ends with the handle of JOB_CREATED.</summary>
internal readonly struct BackgroundStep : ITaskEventStep<JobHandle>
{
    public bool OnEvent(in TaskEvent e, out JobHandle result)
    {
        result = e.Job;
        return e.Kind == TaskEventKind.Created;
    }

    public JobHandle OnEnded(SubmitRequest request)
        => throw new GearmanException($"The background job of '{request.Function}' ended without being created.");
}
