using Gearman.Reactive.Protocol;
using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>Submitting jobs: priorities, background, unique-ID coalescing, epoch jobs, queue limits (spec §2.3, §2.4, §2.12, §2.13).</summary>
internal sealed partial class JobScheduler
{
    internal const int MaxUniqueLength = 64;
    internal const int MaxReducerLength = 512;

    /// <summary>
    /// The epoch timer fires this long after the second begins: clients and workers read the time with C's
    /// <c>time()</c>, a coarse clock that lags the precise one by up to a kernel tick, so a job released at the exact
    /// boundary could reach a worker whose <c>time()</c> still shows the second before.
    /// </summary>
    private const int EpochTimerSlackMilliseconds = 20;

    /// <summary>
    /// How far ahead a SUBMIT_JOB_EPOCH time may be: 3650 days (about ten years). Later times, and times that overflow
    /// a 64-bit integer, are refused with ERROR ARGUMENT_TOO_LARGE; stored jobs beyond it are quarantined at replay.
    /// Bounding the horizon bounds every later computation on the time (milliseconds, timer steps).
    /// </summary>
    internal const long MaxEpochHorizonSeconds = 3650L * 24 * 60 * 60;

    /// <summary>
    /// The epoch timer is never armed further ahead than this: a far job is reached in steps (a system timer cannot be
    /// armed beyond about 49.7 days, and stepping also notices a wall clock that jumps).
    /// </summary>
    internal static readonly TimeSpan MaxEpochTimerStep = TimeSpan.FromHours(1);

    private static readonly byte[] EpochTooFarText = System.Text.Encoding.ASCII.GetBytes(
        $"SUBMIT_JOB_EPOCH time must be a 64-bit number of Unix seconds at most {MaxEpochHorizonSeconds} s (3650 days) ahead");

    private readonly PriorityQueue<Job, (long Epoch, long Sequence)> _delayed = new();
    private readonly ITimer _epochTimer;
    private long _epochTimerDue = long.MaxValue;

    /// <summary>A submit; a new job takes the command's buffer (<see cref="TakeCommandBuffer"/>), of which <paramref name="body"/> is the start.</summary>
    private void Submit(PeerConnection connection, PacketType type, ReadOnlySpan<byte> body, in PacketFields fields)
    {
        var (priority, background) = type switch
        {
            PacketType.SubmitJobHigh => (JobPriority.High, false),
            PacketType.SubmitJobHighBg => (JobPriority.High, true),
            PacketType.SubmitJobLow => (JobPriority.Low, false),
            PacketType.SubmitJobLowBg => (JobPriority.Low, true),
            PacketType.SubmitJobBg or PacketType.SubmitJobEpoch or PacketType.SubmitReduceJobBackground => (JobPriority.Normal, true),
            _ => (JobPriority.Normal, false),
        };

        var functionName = fields.Slice(body, 0);
        var unique = fields[1];
        FieldRange reducer = default;
        FieldRange data;
        long epoch = 0;
        switch (type)
        {
            case PacketType.SubmitJobEpoch:
                // gearmand drops the connection on a time that overflows (an internal error); here it and any time
                // beyond the horizon get an ERROR naming the limit (docs/server.md).
                if (!CNumbers.TryParseLong(fields.Slice(body, 2), out epoch) || IsBeyondEpochHorizon(epoch))
                {
                    RejectSubmit(connection, "ARGUMENT_TOO_LARGE"u8, EpochTooFarText);
                    return;
                }

                data = fields[3];
                break;
            case PacketType.SubmitReduceJob:
            case PacketType.SubmitReduceJobBackground:
                reducer = fields[2];
                data = fields[4];
                break;
            default:
                data = fields[2];
                break;
        }

        if (unique.Length > MaxUniqueLength)
        {
            RejectSubmit(connection, "ARGUMENT_TOO_LARGE"u8, "Unique value too large"u8);
            return;
        }

        if (reducer.Length > MaxReducerLength)
        {
            RejectSubmit(connection, "ARGUMENT_TOO_LARGE"u8, "Reducer name too large"u8);
            return;
        }

        var function = GetOrAddFunction(functionName);
        var uniqueSpan = body.Slice(unique.Offset, unique.Length);
        var dataSpan = body.Slice(data.Offset, data.Length);

        // Coalescing: an existing job with the same key absorbs the submit whatever its state (spec §2.4).
        Job? existing = null;
        if (uniqueSpan.SequenceEqual("-"u8))
        {
            if (!dataSpan.IsEmpty) function.DataKeyedJobs.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(dataSpan, out existing);
        }
        else if (!uniqueSpan.IsEmpty)
        {
            function.UniqueJobs.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(uniqueSpan, out existing);
        }

        if (existing is not null)
        {
            if (existing.IsSaving)
            {
                // Not durable yet: the reply (and a foreground client's attachment) waits for the same acknowledgement.
                _metrics.SubmitCoalesced();
                WaitForSave(existing, connection, foreground: !background);
                return;
            }

            if (!background) Attach(existing, connection);
            _metrics.SubmitCoalesced();
            ReplyCreated(connection, existing);
            return;
        }

        int limit = function.MaxQueue[(int)priority];
        if (limit > 0 && function.JobTotal >= limit)
        {
            RejectSubmit(connection, "QUEUE_ERROR"u8, "Job queue is full"u8);
            return;
        }

        var job = CreateJob(function, TakeCommandBuffer(), unique, reducer, data, priority, background, epoch);
        if (background && _store is not null)
        {
            // Spec §6.2: stored before JOB_CREATED; queued and answered when the store acknowledges.
            BeginSave(job, connection);
            return;
        }

        // Without a store, background jobs still show as persisted in `show jobs`, as in gearmand's builtin queue.
        if (background) job.IsPersisted = true;
        if (!background) Attach(job, connection);

        _metrics.JobSubmitted(priority, background);
        Enqueue(job);
        ReplyCreated(connection, job);
    }

    /// <summary>Whether an epoch lies more than <see cref="MaxEpochHorizonSeconds"/> ahead (overflow-free for any value).</summary>
    internal bool IsBeyondEpochHorizon(long epoch)
    {
        long now = _time.GetUtcNow().ToUnixTimeSeconds();
        return epoch > now && epoch - now > MaxEpochHorizonSeconds;
    }

    private Job CreateJob(FunctionRecord function, byte[] buffer, FieldRange unique, FieldRange reducer, FieldRange data, JobPriority priority, bool background, long epoch)
    {
        uint number = NextHandleNumber();
        var handle = FormatHandle(number);
        var job = new Job(
            number, handle, function, buffer,
            new FieldSlice(unique.Offset, unique.Length),
            new FieldSlice(reducer.Offset, reducer.Length),
            new FieldSlice(data.Offset, data.Length),
            priority, background, epoch, _nextSequence++);
        _jobs.Add(number, job);
        var key = job.Unique;
        if (key.Span.SequenceEqual("-"u8))
        {
            if (job.DataMemory.Length > 0) function.DataKeyedJobs.TryAdd(job.DataMemory, job);
        }
        else if (key.Length > 0)
        {
            function.UniqueJobs.TryAdd(key, job);
        }

        function.JobTotal++;
        _metrics.JobCreated();
        return job;
    }

    private uint NextHandleNumber()
    {
        // 32-bit like gearmand; skip numbers still in use after a wrap-around.
        do
        {
            _nextHandle = _nextHandle == uint.MaxValue ? 1 : _nextHandle + 1;
        }
        while (_jobs.ContainsKey(_nextHandle) || _saving.ContainsKey(_nextHandle));
        return _nextHandle;
    }

    private byte[] FormatHandle(uint number)
    {
        Span<byte> digits = stackalloc byte[10];
        number.TryFormat(digits, out int written);
        var handle = new byte[_handlePrefix.Length + written];
        _handlePrefix.CopyTo(handle, 0);
        digits[..written].CopyTo(handle.AsSpan(_handlePrefix.Length));
        return handle;
    }

    private static void Attach(Job job, PeerConnection client)
    {
        job.Clients.Add(client);
        client.AttachedJobs.Add(job);
    }

    /// <summary>Queues a new job, or parks it until its epoch.</summary>
    private void Enqueue(Job job)
    {
        long now = _time.GetUtcNow().ToUnixTimeSeconds();
        if (job.Epoch > now)
        {
            job.IsDelayed = true;
            job.Function.DelayedCount++;
            _delayed.Enqueue(job, (job.Epoch, job.Sequence));
            ArmEpochTimer();
            return;
        }

        job.Function.Queues[(int)job.Priority].Append(job);
        WakeWorkers(job.Function);
    }

    /// <summary>Moves every epoch job whose time has come into its queue (in submit order) and wakes workers.</summary>
    private void ReleaseDueJobs()
    {
        _epochTimerDue = long.MaxValue;
        long now = _time.GetUtcNow().ToUnixTimeSeconds();
        while (_delayed.TryPeek(out var job, out var key) && key.Epoch <= now)
        {
            _delayed.Dequeue();
            if (!job.IsDelayed) continue; // cancelled while waiting
            job.IsDelayed = false;
            job.Function.DelayedCount--;
            job.Function.Queues[(int)job.Priority].InsertBySequence(job);
            WakeWorkers(job.Function);
        }

        ArmEpochTimer();
    }

    private void ArmEpochTimer()
    {
        while (_delayed.TryPeek(out var head, out _) && !head.IsDelayed) _delayed.Dequeue();
        if (!_delayed.TryPeek(out _, out var next) || next.Epoch >= _epochTimerDue) return;
        _epochTimerDue = next.Epoch;

        // Delayed epochs lie in the future and within the horizon, so the product cannot overflow; the clamp keeps
        // each arming within one step (a step that ends early finds nothing due and arms the next).
        long stepMs = (long)MaxEpochTimerStep.TotalMilliseconds;
        long nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        long dueMs = next.Epoch > (nowMs / 1000) + MaxEpochHorizonSeconds ? stepMs : (next.Epoch * 1000) + EpochTimerSlackMilliseconds - nowMs;
        _epochTimer.Change(TimeSpan.FromMilliseconds(Math.Clamp(dueMs, 0, stepMs)), Timeout.InfiniteTimeSpan);
    }
}
