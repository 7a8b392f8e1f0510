namespace Gearman.Server.Scheduling;

/// <summary>
/// Something the monitoring port asks of the scheduler (a snapshot, a cancel). It runs on the scheduler's thread in order
/// with the other commands, and completes its task with the answer (<see cref="MonitorRequest{T}.Completion"/>), so monitoring never touches the state.
/// </summary>
internal abstract class MonitorRequest
{
    /// <summary>Runs on the scheduler's thread.</summary>
    public abstract void Run(JobScheduler scheduler);
}

/// <summary>A <see cref="MonitorRequest"/> with an answer of type <typeparamref name="T"/>.</summary>
internal sealed class MonitorRequest<T>(Func<JobScheduler, T> run) : MonitorRequest
{
    private readonly TaskCompletionSource<T> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The answer, once the scheduler has run the request.</summary>
    public Task<T> Completion => _answer.Task;

    public override void Run(JobScheduler scheduler)
    {
        try
        {
            _answer.TrySetResult(run(scheduler));
        }
        catch (Exception ex)
        {
            _answer.TrySetException(ex);
        }
    }
}
