using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Worker;

/// <summary>
/// One connection of a <see cref="WorkerSession"/> to its job server: turns the packets the read loop sees into
/// <see cref="WorkerEvent"/>s for the grab loop, and tracks the jobs assigned on it so that they are abandoned (their
/// tokens fire) the moment the connection closes, because the server then hands them to another worker.
/// </summary>
internal sealed class WorkerConnection : IPacketHandler, IAsyncDisposable
{
    /// <summary>
    /// How much of an oversized JOB_ASSIGN* body is read for its handle, function, unique ID and reducer: more than
    /// their limits together (gearmand: 64-byte handles and unique IDs, 512-byte function names).
    /// </summary>
    private const int OversizedAssignmentHead = 4096;

    private readonly WorkerSession _session;

    // Synchronous continuations: the grab loop (our code only; it hands jobs to blocks with SendAsync, which never runs a
    // handler inline) resumes on the read loop's thread, without a thread hop per packet.
    private readonly Channel<WorkerEvent> _events = Channel.CreateUnbounded<WorkerEvent>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = true });

    private readonly ConcurrentDictionary<GearmanJob, byte> _jobs = new();
    private readonly CancellationTokenSource _closed = new();
    private GearmanConnection? _connection;
    private volatile bool _isClosed;
    private int _shuttingDown;

    private WorkerConnection(WorkerSession session)
    {
        _session = session;
    }

    /// <summary>Where packets to the server are queued.</summary>
    public PacketOutbox Outbox => _connection!.Outbox;

    /// <summary>What the read loop reports; completes when the connection closes.</summary>
    public ChannelReader<WorkerEvent> Events => _events.Reader;

    /// <summary>Cancelled when the connection closes.</summary>
    public CancellationToken ClosedToken => _closed.Token;

    /// <summary>The server this connection talks to.</summary>
    public ServerEndpoint Endpoint => _session.Endpoint;

    /// <summary>The registration this connection grabs for.</summary>
    public WorkerLane Lane => _session.Lane;

    /// <summary>The jobs assigned on this connection that have not ended.</summary>
    public int JobCount => _jobs.Count;

    /// <summary>Connects, then identifies the worker and registers the session's functions.</summary>
    public static async Task<WorkerConnection> ConnectAsync(WorkerSession session, CancellationToken cancellationToken)
    {
        var worker = session.Lane.Worker;
        var options = worker.Options;
        var connection = new WorkerConnection(session);
        connection._connection = await GearmanConnection.ConnectAsync(
            session.Endpoint, connection, options.ConnectTimeout, (uint)options.MaxPacketSize, cancellationToken, TlsConnector.Select(session.Endpoint, options.Tls, options.ServerTls), options.Transport).ConfigureAwait(false);

        var outbox = connection.Outbox;
        if (worker.ClientIdBytes is { } clientId) outbox.Send(PacketType.SetClientId, clientId);
        foreach (var function in session.Lane.Functions)
        {
            if (function.TimeoutMilliseconds is { } ms) outbox.Send(PacketType.CanDoTimeout, function.NameBytes, ms);
            else outbox.Send(PacketType.CanDo, function.NameBytes);
        }

        return connection;
    }

    /// <summary>Tracks a job assigned on this connection; abandons it at once if the connection has already closed.</summary>
    public void Track(GearmanJob job)
    {
        _jobs.TryAdd(job, 0);
        if (_isClosed || Volatile.Read(ref _shuttingDown) != 0) job.Abandon();
    }

    /// <summary>Called once by a job when it ends, whichever way; <paramref name="runWaiterInline"/> as for <see cref="WorkerLane.Release"/>.</summary>
    public void OnJobEnded(GearmanJob job, bool runWaiterInline = false)
    {
        _jobs.TryRemove(job, out _);
        _session.Lane.OnJobEnded(job, runWaiterInline);
    }

    /// <summary>Called when a job's timeout expired.</summary>
    public void OnJobTimedOut(GearmanJob job)
        => GearmanWorker.Log.JobTimedOut(_session.Lane.Worker.Logger, job.Handle, job.Function, job.Timeout ?? TimeSpan.Zero);

    /// <summary>Takes away every job still running on this connection (the worker is stopping); returns how many.</summary>
    public int AbandonAll()
    {
        Interlocked.Exchange(ref _shuttingDown, 1);
        int count = 0;
        foreach (var job in _jobs.Keys)
        {
            if (job.Abandon()) count++;
        }

        return count;
    }

    /// <summary>Flushes what is queued and closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_connection is { } connection) await connection.DisposeAsync().ConfigureAwait(false);
    }

    void IPacketHandler.OnPacket(GearmanConnection connection, in Packet packet)
    {
        switch (packet.Type)
        {
            case PacketType.Noop:
                _events.Writer.TryWrite(new WorkerEvent(WorkerEventKind.Noop, null));
                break;
            case PacketType.NoJob:
                _events.Writer.TryWrite(new WorkerEvent(WorkerEventKind.NoJob, null));
                break;
            case PacketType.JobAssign:
            case PacketType.JobAssignUniq:
            case PacketType.JobAssignAll:
                _events.Writer.TryWrite(new WorkerEvent(WorkerEventKind.Job, ReadAssignment(packet)));
                break;
            case PacketType.Error:
                ReportError(packet);
                break;
            default:
                GearmanWorker.Log.UnexpectedPacket(_session.Lane.Worker.Logger, Endpoint, packet.Type.ToString());
                break;
        }
    }

    int IPacketHandler.OversizedHeadLength(PacketType type)
        => type is PacketType.JobAssign or PacketType.JobAssignUniq or PacketType.JobAssignAll ? OversizedAssignmentHead : 0;

    void IPacketHandler.OnOversizedPacket(GearmanConnection connection, PacketType type, uint size, in ReadOnlySequence<byte> head)
    {
        // The fields before the workload are small: the head holds them unless the server sent nonsense.
        if (!PacketFields.TrySplit(PacketLayout.Of(type).Fields, head, out var fields))
        {
            throw new GearmanProtocolException(
                $"Job server {Endpoint} sent a {type} packet of {size} bytes, over the limit of {Lane.Worker.Options.MaxPacketSize} bytes, " +
                $"whose first {head.Length} bytes do not hold its handle and function.");
        }

        var assignment = ReadAssignment(type, head, fields, workload: []) with { RefusedBodySize = size };
        _events.Writer.TryWrite(new WorkerEvent(WorkerEventKind.Job, assignment));
    }

    void IPacketHandler.OnClosed(GearmanConnection connection, Exception? error)
    {
        _isClosed = true;
        _events.Writer.TryComplete(error);
        int lost = 0;
        foreach (var job in _jobs.Keys)
        {
            if (job.Abandon()) lost++;
        }

        if (error is not null || lost > 0)
        {
            GearmanWorker.Log.ConnectionLost(_session.Lane.Worker.Logger, Endpoint, error?.Message ?? "closed", lost);
        }

        _closed.Cancel();
    }

    private JobAssignment ReadAssignment(in Packet packet)
    {
        var body = packet.Body;
        if (!packet.TrySplit(out var fields))
        {
            throw new GearmanProtocolException($"Job server {Endpoint} sent a malformed {packet.Type} packet.");
        }

        return ReadAssignment(packet.Type, body, fields, fields.Slice(body, fields.Count - 1).ToArray());
    }

    private static JobAssignment ReadAssignment(PacketType type, in ReadOnlySequence<byte> body, in PacketFields fields, byte[] workload)
    {
        var handle = fields.Slice(body, 0).ToArray();
        string function = Encoding.UTF8.GetString(fields.Slice(body, 1));
        string unique = string.Empty;
        string? reducer = null;
        if (type != PacketType.JobAssign) unique = Encoding.UTF8.GetString(fields.Slice(body, 2));
        if (type == PacketType.JobAssignAll)
        {
            var r = fields.Slice(body, 3);
            if (!r.IsEmpty) reducer = Encoding.UTF8.GetString(r);
        }

        return new JobAssignment(handle, Encoding.UTF8.GetString(handle), function, unique, reducer, workload);
    }

    private void ReportError(in Packet packet)
    {
        var body = packet.Body;
        string code, text;
        if (packet.TrySplit(out var fields))
        {
            code = Encoding.UTF8.GetString(fields.Slice(body, 0));
            text = Encoding.UTF8.GetString(fields.Slice(body, 1));
        }
        else
        {
            code = Encoding.UTF8.GetString(body);
            text = string.Empty;
        }

        GearmanWorker.Log.ServerError(_session.Lane.Worker.Logger, Endpoint, code, text);
    }
}
