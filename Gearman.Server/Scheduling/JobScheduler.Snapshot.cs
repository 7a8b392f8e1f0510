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

    /// <summary>An immutable copy of the functions, connections and jobs (scheduler thread only: pass it to <see cref="AskAsync"/>).</summary>
    internal SchedulerSnapshot TakeSnapshot()
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

        var jobs = new List<JobSnapshot>(_jobs.Count);
        foreach (var j in _jobs.Values.OrderBy(j => j.Sequence))
        {
            jobs.Add(new JobSnapshot(
                Text(j.Handle), Text(j.Function.Name), Text(j.Unique.Span), ServerMetrics.PriorityName(j.Priority), j.IsBackground,
                j.Worker is not null, j.Worker?.Id, j.Retries, j.IsPersisted, j.Clients.Count));
        }

        return new SchedulerSnapshot(_time.GetUtcNow(), functions, connections, jobs, _metrics.JobsSubmittedTotal, _metrics.JobsFinishedTotal);
    }

    private static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
