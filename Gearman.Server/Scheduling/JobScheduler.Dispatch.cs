using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>Workers: registration, grabbing, sleeping and waking, requeues, retries and timeouts (protocol.md §2.5–2.8, §2.11).</summary>
internal sealed partial class JobScheduler
{
    private void CanDo(PeerConnection connection, ReadOnlySpan<byte> name, int timeoutMilliseconds)
    {
        var function = GetOrAddFunction(name);
        connection.Registrations.Insert(0, new Registration(function, timeoutMilliseconds));
        function.Workers.Add(connection);
    }

    private void CanDoTimeout(PeerConnection connection, ReadOnlySpan<byte> name, ReadOnlySpan<byte> timeout)
    {
        if (!TryParseTimeout(timeout, out long milliseconds))
        {
            CloseForViolation(connection, "CAN_DO_TIMEOUT value is too long or overflows");
            return;
        }

        // Milliseconds; 1-999 are raised to one second; 0 or negative means no timeout (protocol.md §2.11).
        int effective = milliseconds <= 0 ? 0 : (int)Math.Clamp(milliseconds, 1000, int.MaxValue);
        CanDo(connection, name, effective);
    }

    private void CantDo(PeerConnection connection, ReadOnlySpan<byte> name)
    {
        if (!TryGetFunction(name, out var function)) return;
        connection.Registrations.RemoveAll(r => r.Function == function);
        function.Workers.RemoveAll(w => w == connection);
        RequeueRunning(connection, function);
    }

    private void ResetAbilities(PeerConnection connection)
    {
        RemoveAllRegistrations(connection);
        RequeueRunning(connection, function: null);
    }

    private static void RemoveAllRegistrations(PeerConnection connection)
    {
        foreach (var registration in connection.Registrations)
        {
            registration.Function.Workers.RemoveAll(w => w == connection);
        }

        connection.Registrations.Clear();
    }

    private void Grab(PeerConnection connection, PacketType grab)
    {
        connection.IsSleeping = false;
        connection.NoopSent = false;
        var job = FindJobFor(connection, take: true);
        if (job is null)
        {
            connection.Send(PacketType.NoJob);
            return;
        }

        Assign(job, connection);
        var function = job.Function.Name;
        var assign = grab switch
        {
            PacketType.GrabJob => PacketType.JobAssign,
            PacketType.GrabJobAll when !job.Reducer.IsEmpty => PacketType.JobAssignAll,
            _ => PacketType.JobAssignUniq,
        };
        connection.SendAssign(assign, job, function);
    }

    private void PreSleep(PeerConnection connection)
    {
        if (FindJobFor(connection, take: false) is not null)
        {
            connection.Send(PacketType.Noop);
            return;
        }

        connection.IsSleeping = true;
    }

    /// <summary>
    /// HEAD's selection (protocol.md §2.5): priority is global across the worker's functions; within a priority the
    /// registrations are walked in order and the one served moves to the tail (round robin).
    /// </summary>
    private static Job? FindJobFor(PeerConnection connection, bool take)
    {
        var registrations = connection.Registrations;
        for (int priority = 0; priority < 3; priority++)
        {
            for (int i = 0; i < registrations.Count; i++)
            {
                var registration = registrations[i];
                var job = registration.Function.Queues[priority].First;
                if (job is null) continue;
                if (take && i != registrations.Count - 1)
                {
                    registrations.RemoveAt(i);
                    registrations.Add(registration);
                }

                return job;
            }
        }

        return null;
    }

    private void Assign(Job job, PeerConnection worker)
    {
        job.Queue!.Remove(job);
        job.Worker = worker;
        job.Assignment++;
        worker.RunningJobs.Add(job);
        job.Function.JobRunning++;
        _metrics.JobStarted();

        int timeout = 0;
        foreach (var registration in worker.Registrations)
        {
            if (registration.Function == job.Function)
            {
                timeout = registration.TimeoutMilliseconds;
                break;
            }
        }

        if (timeout > 0)
        {
            var state = new TimeoutState(this, job, job.Assignment);
            job.TimeoutTimer = _time.CreateTimer(
                static s =>
                {
                    var t = (TimeoutState)s!;
                    t.Scheduler.Post(ServerCommand.ForJobTimeout(t.Job, t.Assignment));
                },
                state,
                TimeSpan.FromMilliseconds(timeout),
                Timeout.InfiniteTimeSpan);
        }
    }

    private void OnJobTimeout(Job job, int assignment)
    {
        if (job.Worker is not { } worker || job.Assignment != assignment) return;
        ServerLog.JobTimedOut(_logger, Encoding.UTF8.GetString(job.Handle), worker.ToString());

        // The worker is not told; its late WORK_* gets JOB_NOT_FOUND (protocol.md §2.11).
        worker.RunningJobs.Remove(job);
        Requeue(job);
    }

    /// <summary>Requeues the jobs <paramref name="worker"/> runs (all, or those of one function).</summary>
    private void RequeueRunning(PeerConnection worker, FunctionRecord? function)
    {
        if (worker.RunningJobs.Count == 0) return;
        var jobs = worker.RunningJobs.ToArray();

        // Newest assignment first, as gearmand walks its per-worker job list (LIFO): the job the worker took last
        // ends up ahead of the worker's other jobs in the queue.
        for (int i = jobs.Length - 1; i >= 0; i--)
        {
            var job = jobs[i];
            if (function is not null && job.Function != function) continue;
            worker.RunningJobs.Remove(job);
            Requeue(job);
        }
    }

    /// <summary>A running job lost its worker: count a retry, then drop it (retry limit) or put it at the tail of its queue.</summary>
    private void Requeue(Job job)
    {
        StopRunning(job);
        job.Retries++;
        if (job.IsIgnored)
        {
            Free(job);
            return;
        }

        int limit = _options.JobRetries;
        if (limit >= 0 && job.Retries >= Math.Max(limit, 1))
        {
            ServerLog.JobDroppedMaxRetries(_logger, Encoding.UTF8.GetString(job.Handle), job.Retries);
            foreach (var client in job.Clients) client.Send(PacketType.WorkFail, job.Handle);
            _metrics.JobFinished(ServerMetrics.Outcome.RetriesExhausted);
            Free(job);
            return;
        }

        _metrics.JobRequeued();
        ServerLog.JobRequeued(_logger, Encoding.UTF8.GetString(job.Handle), job.Retries);
        PersistRetries(job);
        job.Numerator = 0;
        job.Denominator = 0;
        job.Function.Queues[(int)job.Priority].Append(job);
        WakeWorkers(job.Function);
    }

    /// <summary>Detaches a running job from its worker (the caller removed it from the worker's list).</summary>
    private void StopRunning(Job job)
    {
        if (job.Worker is null) return;
        job.Worker = null;
        job.Function.JobRunning--;
        _metrics.JobStopped();
        job.TimeoutTimer?.Dispose();
        job.TimeoutTimer = null;
    }

    /// <summary>Sends NOOP to sleeping workers of <paramref name="function"/> that have not had one since their last grab (protocol.md §2.7).</summary>
    private void WakeWorkers(FunctionRecord function)
    {
        var workers = function.Workers;
        int count = workers.Count;
        if (count == 0) return;
        int limit = _options.WorkerWakeup;
        int start = function.NextWakeIndex(count);
        int woken = 0;
        for (int k = 0; k < count; k++)
        {
            int index = (start + k) % count;
            var worker = workers[index];
            if (!worker.IsSleeping || worker.NoopSent) continue;
            worker.NoopSent = true;
            worker.Send(PacketType.Noop);
            woken++;
            if (limit > 0 && woken >= limit)
            {
                function.MoveWakeCursor(index + 1, count);
                return;
            }
        }
    }

    /// <summary>The last client of a foreground job left (protocol.md §2.4): a queued job is dropped, a running one finishes unheard.</summary>
    private void Abandon(Job job)
    {
        if (job.Worker is not null)
        {
            job.IsIgnored = true;
            return;
        }

        _metrics.JobFinished(ServerMetrics.Outcome.Abandoned);
        Free(job);
    }

    /// <summary>Removes a job from every structure and releases its buffer.</summary>
    internal void Free(Job job)
    {
        // A job being saved is unreachable from every path that frees jobs; the store writer may be reading its buffer.
        System.Diagnostics.Debug.Assert(!job.IsSaving, "a job must not be freed while its save is in flight");
        if (job.Worker is { } worker)
        {
            worker.RunningJobs.Remove(job);
            StopRunning(job);
        }

        job.Queue?.Remove(job);
        if (job.IsDelayed)
        {
            job.IsDelayed = false; // lazily skipped by the delayed heap
            job.Function.DelayedCount--;
        }

        foreach (var client in job.Clients) client.AttachedJobs.Remove(job);
        job.Clients.Clear();

        var function = job.Function;
        if (job.Unique.Span.SequenceEqual("-"u8))
        {
            if (function.DataKeyedJobs.TryGetValue(job.DataMemory, out var keyed) && keyed == job) function.DataKeyedJobs.Remove(job.DataMemory);
        }
        else if (job.Unique.Length > 0 && function.UniqueJobs.TryGetValue(job.Unique, out var same) && same == job)
        {
            function.UniqueJobs.Remove(job.Unique);
        }

        function.JobTotal--;
        _metrics.JobReleased();
        _jobs.Remove(job.Number);
        Unpersist(job);
        TrimDrainedTables(function);
        job.Release();
    }

    /// <summary>Capacity above which an emptied job table is trimmed (its arrays are then a few MiB; smaller ones stay).</summary>
    private const int DrainedTableCapacity = 65536;

    /// <summary>Tables never shrink by themselves: once a burst is gone, their arrays sized for it would stay.</summary>
    private void TrimDrainedTables(FunctionRecord function)
    {
        if (TrimIfDrained(_jobs) | TrimIfDrained(function.UniqueJobs) | TrimIfDrained(function.DataKeyedJobs)) HeldMemory.TableTrimmed();
    }

    private static bool TrimIfDrained<TKey>(Dictionary<TKey, Job> table)
        where TKey : notnull
    {
        if (table.Count != 0 || table.Capacity <= DrainedTableCapacity) return false;
        table.TrimExcess();
        return true;
    }

    private void CloseForViolation(PeerConnection connection, string reason)
    {
        ServerLog.ProtocolViolation(_logger, connection.ToString(), reason);
        connection.Abort?.Invoke();
    }

    /// <summary>CAN_DO_TIMEOUT: more than 20 characters or a value beyond <see cref="long"/> is an error; other text parses like strtol.</summary>
    private static bool TryParseTimeout(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.Length > 20) return false;
        return CNumbers.TryParseLong(text, out value);
    }

    private sealed record TimeoutState(JobScheduler Scheduler, Job Job, int Assignment);
}
