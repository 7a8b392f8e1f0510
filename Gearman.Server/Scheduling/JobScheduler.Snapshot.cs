using System.Text;
using Gearman.Server.Diagnostics;

namespace Gearman.Server.Scheduling;

/// <summary>What the monitoring port asks of the scheduler: snapshots built on its thread, and cancels.</summary>
internal sealed partial class JobScheduler
{
    /// <summary>Runs <paramref name="run"/> on the scheduler's thread, in order with the other commands, and returns its answer.</summary>
    public async Task<T> AskAsync<T>(Func<JobScheduler, T> run, CancellationToken cancellationToken = default)
    {
        var request = new MonitorRequest<T>(run);
        await PostAndDrainAsync(ServerCommand.ForMonitor(request), cancellationToken).ConfigureAwait(false);
        return await request.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// An immutable copy of the functions, connections and at most <paramref name="maxJobs"/> jobs, the oldest (scheduler
    /// thread only: pass it to <see cref="AskAsync"/>). The periodic snapshot behind the gauges and the rate chart asks
    /// for no jobs, so a large backlog costs the scheduler nothing each second; a job list is built only on request.
    /// </summary>
    internal SchedulerSnapshot TakeSnapshot(int maxJobs)
    {
        var functions = new List<FunctionSnapshot>(_functions.Count);
        foreach (var f in _functions.Values)
        {
            functions.Add(new FunctionSnapshot(
                Text(f.Name), f.JobTotal, f.JobRunning, f.Workers.Count, f.Queues[0].Count, f.Queues[1].Count, f.Queues[2].Count, f.DelayedCount));
        }

        var connections = new List<ConnectionSnapshot>(_connections.Count);
        foreach (var c in _connections.Values)
        {
            var names = new List<string>(c.Registrations.Count);
            foreach (var r in c.Registrations) names.Add(Text(r.Function.Name));
            connections.Add(new ConnectionSnapshot(c.Id, c.RemoteAddress, Text(c.ClientId), names, c.RunningJobs.Count));
        }

        var jobs = new List<JobSnapshot>(Math.Min(maxJobs, _jobs.Count));
        foreach (var j in Oldest(maxJobs))
        {
            jobs.Add(new JobSnapshot(
                Text(j.Handle), Text(j.Function.Name), Text(j.Unique.Span), ServerMetrics.PriorityName(j.Priority), j.IsBackground,
                j.Worker is not null, j.Worker?.Id, j.Retries, j.IsPersisted, j.Clients.Count));
        }

        return new SchedulerSnapshot(_time.GetUtcNow(), functions, connections, jobs, _jobs.Count, _metrics.JobsSubmittedTotal, _metrics.JobsFinishedTotal);
    }

    /// <summary>The <paramref name="count"/> jobs with the lowest sequence numbers, oldest first, without sorting them all.</summary>
    private List<Job> Oldest(int count)
    {
        if (count <= 0) return [];
        var newestFirst = new PriorityQueue<Job, long>(count + 1, Comparer<long>.Create(static (a, b) => b.CompareTo(a)));
        foreach (var job in _jobs.Values)
        {
            newestFirst.Enqueue(job, job.Sequence);
            if (newestFirst.Count > count) newestFirst.Dequeue();
        }

        var oldest = new List<Job>(newestFirst.Count);
        while (newestFirst.TryDequeue(out var job, out _)) oldest.Add(job);
        oldest.Reverse();
        return oldest;
    }

    /// <summary>Jobs assigned to a worker now, summed over the functions instead of scanning every job (scheduler thread only).</summary>
    internal int RunningJobCount
    {
        get
        {
            int running = 0;
            foreach (var function in _functions.Values) running += function.JobRunning;
            return running;
        }
    }

    private static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
