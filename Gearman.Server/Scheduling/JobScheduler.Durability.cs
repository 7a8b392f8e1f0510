using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Networking;
using Gearman.Server.Persistence;

namespace Gearman.Server.Scheduling;

/// <summary>
/// Durable background jobs (protocol.md §6.2). A new background job is handed to the <see cref="JobStoreWriter"/> and stays
/// invisible (not queued, not findable by handle, only by its unique ID so that coalescing submits can wait for it) until
/// the writer acknowledges the save; only then is it queued and JOB_CREATED sent, or ERROR QUEUE_ERROR if the save
/// failed. Finished, failed, cancelled and dropped jobs are deleted from the store, and a job that goes back to its queue
/// because its worker was lost gets its retry count updated. Foreground jobs never touch it.
/// <para>
/// Until the stored jobs are replayed (at start, or when a store that was unreachable at start comes back) background
/// submits are refused with ERROR QUEUE_ERROR: new rows must not get ids that stored rows already have.
/// </para>
/// </summary>
internal sealed partial class JobScheduler
{
    private readonly JobStoreWriter? _store;
    private readonly Dictionary<uint, Job> _saving = [];
    private long _nextStoreId = 1;
    private bool _storeLoaded;

    /// <summary>The store writer, or null when background jobs are kept in memory only.</summary>
    internal JobStoreWriter? StoreWriter => _store;

    /// <summary>Jobs whose save is in flight (for diagnostics and tests).</summary>
    internal int SavingCount => _saving.Count;

    /// <summary>Whether the server stops: a worker lost now does not count as a failed attempt in the store (see <see cref="Requeue"/>).</summary>
    internal CancellationToken Stopping { get; init; }

    /// <summary>
    /// Recreates stored jobs: each becomes a persisted background job with a new handle and its stored retry count,
    /// queued in store order. A record whose unique ID (or data, for <c>-</c>) matches an earlier replayed one coalesces
    /// into it and is deleted. Called before <see cref="RunAsync"/>, or on the loop when a store that was unreachable at
    /// start comes back; background submits are accepted from then on.
    /// </summary>
    /// <returns>How many jobs were recreated and how many records coalesced.</returns>
    internal (int Replayed, int Coalesced) Replay(IReadOnlyList<JobRecord> records)
    {
        _storeLoaded = true;
        if (_store is { Store: var store })
        {
            foreach (var row in store.Quarantined) ServerLog.StoredJobQuarantined(_logger, row.Id, store.Description, row.Reason, store.QuarantineDescription);
        }

        int replayed = 0;
        int coalesced = 0;
        foreach (var record in records)
        {
            _nextStoreId = Math.Max(_nextStoreId, record.Id + 1);
            try
            {
                if (ReplayOne(record)) replayed++;
                else coalesced++;
            }
            catch (Exception ex)
            {
                // The stores check every row before it gets here; this only keeps one surprise from stopping the rest.
                ServerLog.StoredJobSkipped(_logger, ex, record.Id);
            }
        }

        return (replayed, coalesced);
    }

    /// <returns>True when the record became a job, false when it coalesced into an earlier one (and was deleted).</returns>
    private bool ReplayOne(in JobRecord record)
    {
        var function = GetOrAddFunction(record.Function.Span);
        var unique = record.Unique.Span;
        var data = record.Data.Span;
        Job? existing = null;
        if (unique.SequenceEqual("-"u8))
        {
            if (!data.IsEmpty) function.DataKeyedJobs.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(data, out existing);
        }
        else if (!unique.IsEmpty)
        {
            function.UniqueJobs.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(unique, out existing);
        }

        // Only into a stored job: a late replay may meet a foreground job with the same unique ID, which a crash
        // would lose; the record then becomes a job of its own (not findable by that unique ID).
        if (existing is { IsPersisted: true })
        {
            _store?.Delete(record.Id);
            return false;
        }

        // The job owns one pooled buffer holding unique, reducer and data, as a submitted job holds its packet body.
        int length = unique.Length + record.Reducer.Length + data.Length;
        var buffer = RequestBuffers.Rent(length);
        unique.CopyTo(buffer);
        record.Reducer.Span.CopyTo(buffer.AsSpan(unique.Length));
        data.CopyTo(buffer.AsSpan(unique.Length + record.Reducer.Length));
        var job = CreateJob(
            function,
            buffer,
            new FieldRange(0, unique.Length),
            new FieldRange(unique.Length, record.Reducer.Length),
            new FieldRange(unique.Length + record.Reducer.Length, data.Length),
            record.Priority,
            background: true,
            record.Epoch);
        job.StoreId = record.Id;
        job.IsPersisted = true;
        job.Retries = record.Retries;
        Enqueue(job);
        return true;
    }

    /// <summary>Whether a submit packet makes a background job (the ones the durable store keeps).</summary>
    internal static bool IsBackgroundSubmit(PacketType type) => type is PacketType.SubmitJobBg or PacketType.SubmitJobHighBg
        or PacketType.SubmitJobLowBg or PacketType.SubmitJobEpoch or PacketType.SubmitReduceJobBackground;

    /// <summary>
    /// Whether a request must wait because earlier replies to its connection wait for the store. Background submits
    /// may go ahead (their replies queue behind the earlier ones); anything else waits, so replies keep request order.
    /// </summary>
    private static bool MustDefer(PeerConnection connection, in ServerCommand command)
    {
        if (command.Kind is not (ServerCommandKind.Packet or ServerCommandKind.AdminLine or ServerCommandKind.ProtocolError)) return false;
        if (connection.DeferredCommands is { Count: > 0 }) return true;
        return WaitsBehindReplies(connection, command);
    }

    /// <summary>Earlier replies to the connection wait for the store, and <paramref name="command"/> is no background submit that may go ahead.</summary>
    private static bool WaitsBehindReplies(PeerConnection connection, in ServerCommand command)
        => connection.HasPendingReplies && !(command.Kind == ServerCommandKind.Packet && IsBackgroundSubmit(command.Type));

    /// <summary>Starts saving a new background job; <paramref name="connection"/>'s JOB_CREATED waits for the acknowledgement.</summary>
    private void BeginSave(Job job, PeerConnection connection)
    {
        _jobs.Remove(job.Number);
        _saving.Add(job.Number, job);
        job.IsSaving = true;
        job.StoreId = _nextStoreId++;
        var reply = PendingReply.Waiting(connection, job, foreground: false);
        job.Waiters = [reply];
        (connection.PendingReplies ??= new()).Enqueue(reply);
        if (!_storeLoaded)
        {
            // The store was unreachable at start and its jobs are not replayed yet.
            OnStoreAck(new StoreAcknowledgement([job], JobStoreWriter.UnavailableError(_store!.Unavailable ?? "its stored jobs are not loaded yet")));
        }
        else if (!_store!.Add(job))
        {
            // The writer has stopped (the server is shutting down): the job can never become durable.
            OnStoreAck(new StoreAcknowledgement([job], "The server is shutting down"));
        }
    }

    /// <summary>A submit coalesced into a job whose save is in flight: its reply waits for the same acknowledgement.</summary>
    private static void WaitForSave(Job job, PeerConnection connection, bool foreground)
    {
        var reply = PendingReply.Waiting(connection, job, foreground);
        job.Waiters!.Add(reply);
        (connection.PendingReplies ??= new()).Enqueue(reply);
    }

    /// <summary>Sends JOB_CREATED for <paramref name="job"/> now, or queues it behind replies that wait for the store.</summary>
    private static void ReplyCreated(PeerConnection connection, Job job)
    {
        if (connection.HasPendingReplies) connection.PendingReplies!.Enqueue(PendingReply.Created(connection, job));
        else connection.Send(PacketType.JobCreated, job.Handle);
    }

    /// <summary>Sends an ERROR in reply to a submit now, or queues it behind replies that wait for the store.</summary>
    private static void RejectSubmit(PeerConnection connection, ReadOnlySpan<byte> code, ReadOnlySpan<byte> text)
    {
        if (connection.HasPendingReplies) connection.PendingReplies!.Enqueue(PendingReply.Failed(connection, code, text));
        else SendError(connection, code, text);
    }

    /// <summary>
    /// Stores a requeued job's retry count, so that <c>--job-retries</c> holds across restarts. Not while the server
    /// stops: a worker lost because the server shuts down (or crashes, which writes nothing) is not the job's failure.
    /// </summary>
    private void PersistRetries(Job job)
    {
        if (job.IsPersisted && !Stopping.IsCancellationRequested) _store?.SetRetries(job.StoreId, job.Retries);
    }

    /// <summary>Removes the job's row from the store (if it has one); the delete is retried until it is applied.</summary>
    private void Unpersist(Job job)
    {
        if (!job.IsPersisted) return;
        job.IsPersisted = false;
        _store?.Delete(job.StoreId);
    }

    private void OnStoreAck(StoreAcknowledgement acknowledgement)
    {
        if (acknowledgement.Replay is { } records)
        {
            LogReplay(_store!.Store.Description, Replay(records));
            return;
        }

        byte[]? errorText = acknowledgement.Error is { } error ? Encoding.UTF8.GetBytes(error) : null;
        List<PeerConnection>? touched = null;
        foreach (var job in acknowledgement.Jobs)
        {
            try
            {
                AcknowledgeSave(job, errorText, ref touched);
            }
            catch (Exception ex)
            {
                // One job must not strand the rest of its group commit: they are still answered and queued.
                ServerLog.CommandFailed(_logger, ex, nameof(ServerCommandKind.StoreAck), "-");
            }
        }

        if (touched is null) return;
        foreach (var connection in touched) FlushReplies(connection);
    }

    /// <summary>Settles one saved (or failed) job: its waiters are answered, and a durable job is queued.</summary>
    private void AcknowledgeSave(Job job, byte[]? errorText, ref List<PeerConnection>? touched)
    {
        _saving.Remove(job.Number);
        job.IsSaving = false;
        var waiters = job.Waiters ?? [];
        job.Waiters = null;
        foreach (var waiter in waiters)
        {
            if (errorText is null) waiter.Succeed();
            else waiter.Fail("QUEUE_ERROR"u8, errorText);
            if (!waiter.Connection.IsClosed) (touched ??= []).Add(waiter.Connection);
        }

        if (errorText is null)
        {
            // Durable: now the job exists. Queue it before replying, so that a GRAB the connection sent after its
            // submit (held back until this reply) finds it.
            job.IsPersisted = true;
            _jobs.Add(job.Number, job);
            _metrics.JobSubmitted(job.Priority, background: true);
            Enqueue(job);
        }
        else
        {
            Free(job);
        }
    }

    /// <summary>Sends the connection's ready replies in order; once none waits, runs the requests held back meanwhile.</summary>
    private void FlushReplies(PeerConnection connection)
    {
        var replies = connection.PendingReplies;
        while (!connection.IsClosed && replies is { Count: > 0 } && replies.Peek().IsReady)
        {
            var reply = replies.Dequeue();
            if (reply.ErrorCode is { } code)
            {
                SendError(connection, code, reply.ErrorText);
                continue;
            }

            var job = reply.Job!;
            if (reply.Foreground && !job.IsReleased) Attach(job, connection);
            connection.Send(PacketType.JobCreated, job.Handle);

            // Only possible if a foreground reply waited behind another that took longer; the client must not hang.
            if (reply.Foreground && job.IsReleased) connection.Send(PacketType.WorkFail, job.Handle);
        }

        var deferred = connection.DeferredCommands;
        while (!connection.IsClosed && deferred is { Count: > 0 })
        {
            var next = deferred.Peek();
            if (WaitsBehindReplies(connection, next)) return;
            deferred.Dequeue();
            ProcessNow(next);
        }
    }

    /// <summary>The connection closed: requests it left waiting are dropped, and so are its replies (its jobs are not).</summary>
    private static void DropDeferred(PeerConnection connection)
    {
        connection.PendingReplies?.Clear();
        if (connection.DeferredCommands is not { } deferred) return;
        while (deferred.TryDequeue(out var command)) command.ReturnBuffer();
    }

    /// <summary>Logs the replay (called by the host once the loop is about to start).</summary>
    internal void LogReplay(string store, (int Replayed, int Coalesced) result)
        => ServerLog.JobsReplayed(_logger, result.Replayed, store, result.Coalesced);
}
