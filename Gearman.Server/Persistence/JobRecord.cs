using Gearman.Reactive;
using Gearman.Server.Scheduling;

namespace Gearman.Server.Persistence;

/// <summary>
/// One stored background job: what replay needs to recreate it (protocol.md §6.2, plus the reducer, which gearmand drops).
/// The handle is not stored: a replayed job gets a new one. <see cref="Id"/> is the row's own key, so jobs with equal
/// (or empty) unique IDs never overwrite each other.
/// </summary>
internal readonly struct JobRecord
{
    public JobRecord(long id, ReadOnlyMemory<byte> function, ReadOnlyMemory<byte> unique, ReadOnlyMemory<byte> reducer, ReadOnlyMemory<byte> data, JobPriority priority, long epoch, int retries = 0)
    {
        Retries = retries;
        Id = id;
        Function = function;
        Unique = unique;
        Reducer = reducer;
        Data = data;
        Priority = priority;
        Epoch = epoch;
    }

    /// <summary>The store key, assigned by the server in submit order (replay order is ascending id).</summary>
    public long Id { get; }

    public ReadOnlyMemory<byte> Function { get; }

    public ReadOnlyMemory<byte> Unique { get; }

    public ReadOnlyMemory<byte> Reducer { get; }

    public ReadOnlyMemory<byte> Data { get; }

    public JobPriority Priority { get; }

    /// <summary>Unix seconds before which the job must not run; 0 runs at once.</summary>
    public long Epoch { get; }

    /// <summary>
    /// How many times the job lost its worker while the server ran (the <c>--job-retries</c> count): 0 when saved, then
    /// updated at each requeue, so a retry limit holds across restarts.
    /// </summary>
    public int Retries { get; }

    /// <summary>A record that refers to <paramref name="job"/>'s buffer (no copy): valid only while the job's save is in flight.</summary>
    public static JobRecord From(Job job)
        => new(job.StoreId, job.Function.Name, job.Unique, job.ReducerMemory, job.DataMemory, job.Priority, job.Epoch, job.Retries);
}
