using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>Results from workers, forwarded to every attached client, and status queries (protocol.md §2.9, §2.10, §2.14).</summary>
internal sealed partial class JobScheduler
{
    private void WorkResult(PeerConnection connection, PacketType type, ReadOnlySpan<byte> body, in PacketFields fields)
    {
        // WORK_FAIL's single field is the handle; a trailing NUL some workers add is not part of it.
        var handle = type == PacketType.WorkFail ? UpToNul(fields.Slice(body, 0)) : fields.Slice(body, 0);
        if (!TryGetJob(handle, out var job) || job.Worker != connection)
        {
            var text = type switch
            {
                PacketType.WorkData or PacketType.WorkWarning => "Job does not exist on server"u8,
                PacketType.WorkException => "An exception was received for a job that does not exist"u8,
                _ => "Job given in work result not found"u8,
            };
            SendError(connection, "JOB_NOT_FOUND"u8, text);
            return;
        }

        switch (type)
        {
            case PacketType.WorkData:
            case PacketType.WorkWarning:
                // Forwarded byte for byte (protocol.md §2.9).
                Relay(job, type, body);
                break;

            case PacketType.WorkStatus:
                job.Numerator = CNumbers.Atoi(fields.Slice(body, 1));
                job.Denominator = CNumbers.Atoi(fields.Slice(body, 2));
                foreach (var client in job.Clients) client.Send(type, body);
                break;

            case PacketType.WorkComplete:
                Relay(job, type, body);
                Finish(job, ServerMetrics.Outcome.Completed);
                break;

            case PacketType.WorkFail:
                // Always the bare handle: 1.1.20 clients cannot match one with a trailing NUL (protocol.md §2.9).
                foreach (var client in job.Clients) client.Send(PacketType.WorkFail, job.Handle);
                Finish(job, ServerMetrics.Outcome.Failed);
                break;

            case PacketType.WorkException:
                foreach (var client in job.Clients)
                {
                    if (client.ExceptionsEnabled) client.Send(PacketType.WorkException, body);
                    else client.Send(PacketType.WorkFail, job.Handle);
                }

                Finish(job, ServerMetrics.Outcome.Exception);
                break;
        }
    }

    /// <summary>
    /// Forwards a worker's packet to every client of <paramref name="job"/> as it came. A large body (one the pool does not
    /// hold) goes out from the request's own buffer where a client's transport can send it so (epoll), instead of
    /// being copied into each client's outbox.
    /// </summary>
    private void Relay(Job job, PacketType type, ReadOnlySpan<byte> body)
    {
        if (body.Length <= RequestBuffers.MaxPooledLength || _commandBuffer is null || !AnySendsLentData(job.Clients))
        {
            foreach (var client in job.Clients) client.Send(type, body);
            return;
        }

        var relayed = new RelayedBody(TakeCommandBuffer(), body.Length);
        try
        {
            foreach (var client in job.Clients) client.SendRelayed(type, relayed);
        }
        finally
        {
            relayed.Release();
        }
    }

    private static bool AnySendsLentData(in JobClients clients)
    {
        foreach (var client in clients)
        {
            if (client.SendsLentData) return true;
        }

        return false;
    }

    /// <summary>The job ended on its worker: remove it from the store and from memory.</summary>
    private void Finish(Job job, ServerMetrics.Outcome outcome)
    {
        _metrics.JobFinished(outcome);
        Free(job);
    }

    private void GetStatus(PeerConnection connection, ReadOnlySpan<byte> handle)
    {
        Span<byte> numerator = stackalloc byte[11];
        Span<byte> denominator = stackalloc byte[11];
        if (TryGetJob(handle, out var job))
        {
            job.Numerator.TryFormat(numerator, out int n);
            job.Denominator.TryFormat(denominator, out int d);
            connection.Send(PacketType.StatusRes, handle, "1"u8, job.Worker is null ? "0"u8 : "1"u8, numerator[..n], denominator[..d]);
        }
        else
        {
            connection.Send(PacketType.StatusRes, handle, "0"u8, "0"u8, "0"u8, "0"u8);
        }
    }

    /// <summary>Searches every function; the most recently created job with that unique wins (protocol.md §2.10).</summary>
    private void GetStatusUnique(PeerConnection connection, ReadOnlySpan<byte> unique)
    {
        Job? found = null;
        if (!unique.IsEmpty && !unique.SequenceEqual("-"u8))
        {
            foreach (var function in _functions.Values)
            {
                if (function.UniqueJobs.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(unique, out var job)
                    && (found is null || job.Sequence > found.Sequence))
                {
                    found = job;
                }
            }
        }

        if (found is null)
        {
            connection.Send(PacketType.StatusResUnique, unique, "0"u8, "0"u8, "0"u8, "0"u8, "0"u8);
            return;
        }

        Span<byte> numerator = stackalloc byte[11];
        Span<byte> denominator = stackalloc byte[11];
        Span<byte> clients = stackalloc byte[11];
        found.Numerator.TryFormat(numerator, out int n);
        found.Denominator.TryFormat(denominator, out int d);
        found.Clients.Count.TryFormat(clients, out int c);
        connection.Send(PacketType.StatusResUnique, unique, "1"u8, found.Worker is null ? "0"u8 : "1"u8, numerator[..n], denominator[..d], clients[..c]);
    }

    /// <summary>
    /// Admin <c>cancel job</c> (protocol.md §2.14): every client gets WORK_FAIL now. A queued job is removed; a running job is
    /// not stopped, and its clients stay attached (so, as in gearmand, they may also see its WORK_COMPLETE).
    /// </summary>
    internal bool Cancel(ReadOnlySpan<byte> handle)
    {
        if (!TryGetJob(handle, out var job)) return false;
        foreach (var client in job.Clients) client.Send(PacketType.WorkFail, job.Handle);
        Unpersist(job);
        _metrics.JobFinished(ServerMetrics.Outcome.Cancelled);
        if (job.Worker is null)
        {
            Free(job);
        }
        else
        {
            job.IsIgnored = true;
        }

        return true;
    }
}
