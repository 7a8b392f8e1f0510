using System.Buffers;
using System.Text;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Client;

/// <summary>
/// The read side: each packet from the server is matched to the request or job it belongs to (protocol.md §5.1).
/// Bad input faults only what it can be attributed to, with a <see cref="GearmanProtocolException"/>; what cannot be
/// attributed to anything is logged and dropped, so that nothing waits for a packet that will never come.
/// </summary>
internal sealed partial class ServerSession
{
    void IPacketHandler.OnPacket(GearmanConnection connection, in Packet packet)
    {
        var body = packet.Body;
        lock (_lock)
        {
            if (_connection != connection) return;
            switch (packet.Type)
            {
                case PacketType.JobCreated:
                    OnJobCreated(body);
                    break;
                case PacketType.WorkData or PacketType.WorkWarning or PacketType.WorkStatus or PacketType.WorkComplete
                    or PacketType.WorkFail or PacketType.WorkException:
                    OnWork(packet.Type, body);
                    break;
                case PacketType.Error:
                    OnError(body);
                    break;
                case PacketType.StatusRes:
                    OnStatus(PendingKind.Status, body);
                    break;
                case PacketType.StatusResUnique:
                    OnStatus(PendingKind.StatusUnique, body);
                    break;
                case PacketType.OptionRes:
                    if (FindOldest(PendingKind.Option) is { } option) Unlink(option);
                    else Log.UnexpectedPacket(_logger, Name, packet.Type);
                    break;
                default:
                    Log.UnexpectedPacket(_logger, Name, packet.Type);
                    break;
            }
        }
    }

    private void OnJobCreated(in ReadOnlySequence<byte> body)
    {
        if (FindOldest(PendingKind.Submit) is not ClientJob job)
        {
            Log.UnexpectedPacket(_logger, Name, PacketType.JobCreated);
            return;
        }

        Unlink(job);
        var handleBytes = UpToNul(body);
        if (handleBytes.IsEmpty || handleBytes.Length > MaxHandleBytes)
        {
            Retire(job);
            job.Complete(new GearmanProtocolException(
                $"Job server {Name} answered the submit of '{job.Request.Function}' with a JOB_CREATED whose handle is {(handleBytes.IsEmpty ? "empty" : "too long")}."));
            return;
        }

        string handle = Encoding.Latin1.GetString(handleBytes);
        var id = new JobHandle(Name, handle);
        var created = TaskEvent.ForCreated(id);
        if (job.Request.Background)
        {
            Retire(job);
            job.Handle = id;
            job.Publish(created);
            job.Complete(null);
            return;
        }

        if (_running.TryGetValue(handle, out var existing))
        {
            // The server attached this connection to a job it already serves here (a coalescing we could not foresee):
            // it will send each packet of that job twice. Merge, so that every consumer at least sees the job end.
            Log.DuplicateAttachment(_logger, Name, handle);
            Retire(job);
            Join(existing, job);
            return;
        }

        job.Handle = id;
        job.State = JobState.Running;
        _running.Add(handle, job);
        job.Publish(created);
    }

    private void OnWork(PacketType type, in ReadOnlySequence<byte> body)
    {
        if (!PacketFields.TrySplit(type, body, out var fields))
        {
            // Too few NULs: the first field is still the best guess at the handle.
            var guess = UpToNul(body);
            if (TryFindRunning(guess, out var victim))
            {
                Retire(victim);
                victim.Complete(new GearmanProtocolException(
                    $"Job server {Name} sent a malformed {type} packet for job {victim.Handle.Handle} of '{victim.Request.Function}' (too few fields)."));
            }
            else
            {
                Log.MalformedPacket(_logger, Name, type, "too few fields");
            }

            return;
        }

        // WORK_FAIL's handle may carry a trailing NUL (gearmand converts WORK_EXCEPTION so, protocol.md §2.9).
        var handle = type == PacketType.WorkFail ? UpToNul(body) : fields.Slice(body, 0);
        if (!TryFindRunning(handle, out var job))
        {
            // Not a job whose consumers left (those stay registered until they end): a handle this connection never
            // received, or one that already ended.
            Log.UnknownHandle(_logger, Name, type);
            return;
        }

        switch (type)
        {
            case PacketType.WorkData:
                job.Publish(TaskEvent.ForData(job.Handle, Copy(fields.Slice(body, 1))));
                break;
            case PacketType.WorkWarning:
                job.Publish(TaskEvent.ForWarning(job.Handle, Copy(fields.Slice(body, 1))));
                break;
            case PacketType.WorkStatus:
                job.Publish(TaskEvent.ForStatus(job.Handle, ParseNumber(fields.Slice(body, 1)), ParseNumber(fields.Slice(body, 2))));
                break;
            case PacketType.WorkComplete:
                Retire(job);
                job.Publish(TaskEvent.ForCompleted(job.Handle, Copy(fields.Slice(body, 1))));
                job.Complete(null);
                break;
            case PacketType.WorkFail:
                Retire(job);
                job.Complete(new GearmanJobFailedException(job.Request.Function, job.Handle.Handle));
                break;
            case PacketType.WorkException:
                Retire(job);
                job.Complete(new GearmanJobException(job.Request.Function, job.Handle.Handle, Copy(fields.Slice(body, 1))));
                break;
        }
    }

    private void OnError(in ReadOnlySequence<byte> body)
    {
        string code, text;
        if (PacketFields.TrySplit(PacketType.Error, body, out var fields))
        {
            code = Encoding.UTF8.GetString(fields.Slice(body, 0));
            text = Encoding.UTF8.GetString(fields.Slice(body, 1));
        }
        else
        {
            code = Encoding.UTF8.GetString(body);
            text = string.Empty;
        }

        // The server answers in order, so an ERROR answers the oldest request still waiting (libgearman charges it to
        // the next pending submission, protocol.md §5.1).
        var error = new GearmanServerErrorException(code, text);
        if (_oldest is not { } request)
        {
            Log.UnattributedError(_logger, Name, code, text);
            return;
        }

        Unlink(request);
        if (request is ClientJob job) Retire(job);
        request.OnServerError(error);
    }

    private void OnStatus(PendingKind kind, in ReadOnlySequence<byte> body)
    {
        var type = kind == PendingKind.Status ? PacketType.StatusRes : PacketType.StatusResUnique;
        bool wellFormed = PacketFields.TrySplit(type, body, out var fields);
        var key = wellFormed ? fields.Slice(body, 0) : UpToNul(body);
        var request = FindStatus(kind, key);
        if (request is null)
        {
            Log.UnexpectedPacket(_logger, Name, type);
            return;
        }

        Unlink(request);
        if (!wellFormed)
        {
            request.Fail(new GearmanProtocolException($"Job server {Name} sent a malformed {type} packet for '{request.Key}' (too few fields)."));
            return;
        }

        request.Complete(new JobStatus(
            IsKnown: ParseNumber(fields.Slice(body, 1)) != 0,
            IsRunning: ParseNumber(fields.Slice(body, 2)) != 0,
            Numerator: ParseNumber(fields.Slice(body, 3)),
            Denominator: ParseNumber(fields.Slice(body, 4)),
            ClientCount: kind == PendingKind.StatusUnique ? (int)Math.Clamp(ParseNumber(fields.Slice(body, 5)), 0, int.MaxValue) : null));
    }

    private PendingRequest? FindOldest(PendingKind kind)
    {
        for (var r = _oldest; r is not null; r = r.Next)
        {
            if (r.Kind == kind) return r;
        }

        return null;
    }

    private StatusRequest? FindStatus(PendingKind kind, in ReadOnlySequence<byte> key)
    {
        if (key.Length > MaxHandleBytes) return null;
        Span<byte> bytes = stackalloc byte[MaxHandleBytes];
        bytes = bytes[..(int)key.Length];
        key.CopyTo(bytes);
        Span<byte> expected = stackalloc byte[MaxHandleBytes];
        for (var r = _oldest; r is not null; r = r.Next)
        {
            if (r.Kind != kind || r is not StatusRequest status) continue;
            var encoding = kind == PendingKind.Status ? Encoding.Latin1 : Encoding.UTF8;
            if (encoding.GetByteCount(status.Key) > MaxHandleBytes) continue;
            int n = encoding.GetBytes(status.Key, expected);
            if (expected[..n].SequenceEqual(bytes)) return status;
        }

        return null;
    }

    /// <summary>Looks a job up by handle bytes without allocating (handles are Latin-1, one char per byte).</summary>
    private bool TryFindRunning(in ReadOnlySequence<byte> handle, out ClientJob job)
    {
        job = null!;
        if (handle.IsEmpty || handle.Length > MaxHandleBytes) return false;
        Span<byte> bytes = stackalloc byte[MaxHandleBytes];
        bytes = bytes[..(int)handle.Length];
        handle.CopyTo(bytes);
        Span<char> chars = stackalloc char[MaxHandleBytes];
        int n = Encoding.Latin1.GetChars(bytes, chars);
        return _runningByChars.TryGetValue(chars[..n], out job!);
    }

    private static ReadOnlySequence<byte> UpToNul(in ReadOnlySequence<byte> body)
    {
        var nul = body.PositionOf((byte)0);
        return nul is { } at ? body.Slice(0, at) : body;
    }

    /// <summary>The consumer's own copy of a payload: the only allocation an event costs.</summary>
    private static ReadOnlyMemory<byte> Copy(in ReadOnlySequence<byte> data) => data.IsEmpty ? ReadOnlyMemory<byte>.Empty : data.ToArray();

    /// <summary>
    /// Parses a decimal field as gearmand does (<c>atoi</c>, protocol.md §2.9): leading spaces and a sign, then digits up to
    /// the first non-digit; no digits gives 0; overflow saturates.
    /// </summary>
    internal static long ParseNumber(in ReadOnlySequence<byte> field)
    {
        Span<byte> buffer = stackalloc byte[32];
        var text = buffer[..(int)Math.Min(field.Length, buffer.Length)];
        field.Slice(0, text.Length).CopyTo(text);
        int i = 0;
        while (i < text.Length && text[i] is (byte)' ' or (byte)'\t') i++;
        bool negative = false;
        if (i < text.Length && text[i] is (byte)'-' or (byte)'+')
        {
            negative = text[i] == (byte)'-';
            i++;
        }

        long value = 0;
        for (; i < text.Length && (uint)(text[i] - '0') <= 9; i++)
        {
            int digit = text[i] - '0';
            if (value > (long.MaxValue - digit) / 10) return negative ? long.MinValue : long.MaxValue;
            value = (value * 10) + digit;
        }

        return negative ? -value : value;
    }
}
