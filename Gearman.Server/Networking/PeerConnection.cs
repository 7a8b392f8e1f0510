using System.Buffers;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Scheduling;
using Gearman.Server.Security;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Networking;

/// <summary>
/// The server's view of one TCP connection, which may act as client, worker and admin at once (spec: the server
/// assigns no roles). Everything but <see cref="Outbox"/> is owned by the scheduler loop.
/// </summary>
internal sealed class PeerConnection
{
    /// <summary>The longest reply prefix (header and fields) built on the stack by <see cref="SendAssign"/>.</summary>
    private const int MaxStackPrefix = 512;

    private static readonly byte[] DefaultClientId = "-"u8.ToArray();
    private static int _lastId;
    private readonly Action? _directFlush;
    private volatile bool _overLimit;

    /// <param name="id">See <see cref="Id"/>.</param>
    /// <param name="remoteAddress">See <see cref="RemoteAddress"/>.</param>
    /// <param name="exceptions">The server's <c>--exceptions</c> default for <see cref="ExceptionsEnabled"/>.</param>
    /// <param name="flushNeeded">Where the connection reports its first reply of a batch (the scheduler flushes once per batch); null wakes the write loop per reply.</param>
    /// <param name="directFlush">
    /// For a transport that writes <see cref="Outbox"/> itself instead of running its write loop: sends what is queued,
    /// without blocking, from whichever thread calls it (see <see cref="Flush"/> and <see cref="Complete"/>).
    /// </param>
    public PeerConnection(int id, string remoteAddress, bool exceptions, Action<PeerConnection>? flushNeeded = null, Action? directFlush = null)
    {
        Id = id;
        RemoteAddress = remoteAddress;
        ExceptionsEnabled = exceptions;
        _directFlush = directFlush;
        Outbox = new PacketOutbox(PacketMagic.Response, flushNeeded is null ? null : _ => flushNeeded(this));
    }

    /// <summary>A small number shown where gearmand shows the socket's file descriptor (admin <c>workers</c>).</summary>
    public int Id { get; }

    public string RemoteAddress { get; }

    /// <summary>Replies to this connection; thread-safe. The scheduler sends through <see cref="Send(PacketType)"/> and its overloads, which enforce the outbound cap.</summary>
    public PacketOutbox Outbox { get; }

    /// <summary>
    /// <c>--max-unsent-bytes</c>: once the replies queued for this peer (in <see cref="Outbox"/> and in the transport,
    /// see <see cref="TransportUnsent"/>) exceed it, the connection is closed: its bound is the cap plus one packet.
    /// </summary>
    public long MaxUnsentBytes { get; init; } = long.MaxValue;

    /// <summary>Reply bytes the transport holds that the peer has not taken yet (null: none held outside the outbox).</summary>
    public Func<long>? TransportUnsent { get; init; }

    /// <summary>Where <see cref="MaxUnsentBytes"/> closures are logged.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Whether the connection went over <see cref="MaxUnsentBytes"/>: it is being closed, and its requests are no longer served.</summary>
    public bool IsOverUnsentLimit => _overLimit;

    public byte[] ClientId { get; set; } = DefaultClientId;

    /// <summary>Set by <c>OPTION_REQ exceptions</c>: WORK_EXCEPTION is forwarded instead of WORK_FAIL.</summary>
    public bool ExceptionsEnabled { get; set; }

    /// <summary>CAN_DO registrations, most recent first (the round-robin order of protocol.md §2.5).</summary>
    public List<Registration> Registrations { get; } = [];

    public bool IsSleeping { get; set; }

    public bool NoopSent { get; set; }

    /// <summary>Jobs assigned to this connection as a worker.</summary>
    public List<Job> RunningJobs { get; } = [];

    /// <summary>Foreground jobs this connection waits on as a client (a set: a pipelining client may wait on thousands).</summary>
    public HashSet<Job> AttachedJobs { get; } = [];

    /// <summary>
    /// Replies to this connection's submits that wait for the store, in submit order (null until first needed). While
    /// any is pending, the connection's later requests wait in <see cref="DeferredCommands"/>, except background submits,
    /// whose replies simply queue up here (so a client that pipelines background submits gets group commit).
    /// </summary>
    public Queue<PendingReply>? PendingReplies { get; set; }

    /// <summary>Requests held back until <see cref="PendingReplies"/> has drained, so that replies keep request order.</summary>
    public Queue<ServerCommand>? DeferredCommands { get; set; }

    /// <summary>Whether replies to this connection must currently go through <see cref="PendingReplies"/>.</summary>
    public bool HasPendingReplies => PendingReplies is { Count: > 0 };

    /// <summary>The verified client certificate's identity (TLS with a client certificate), else null; access rules use it.</summary>
    public PeerIdentity? Identity { get; init; }

    /// <summary>Closes the transport at once (set by the connection handler); the reader then reports the disconnect.</summary>
    public Action? Abort { get; set; }

    /// <summary>Set by the scheduler once it has processed the disconnect.</summary>
    public bool IsClosed { get; set; }

    /// <summary>A new connection id: 1, 2, 3 … across every listener and transport of the process.</summary>
    public static int NextId() => Interlocked.Increment(ref _lastId);

    /// <summary>Sends the replies queued in <see cref="Outbox"/>: the transport's direct send, or a wake of the outbox's write loop.</summary>
    public void Flush()
    {
        if (_directFlush is { } flush) flush();
        else Outbox.Flush();
    }

    /// <summary>
    /// No more replies (the scheduler has processed the disconnect): the write loop ends once it has sent what is
    /// queued; a direct-sending transport sends it now.
    /// </summary>
    public void Complete()
    {
        Outbox.Complete();
        _directFlush?.Invoke();
    }

    public bool Send(PacketType type) => !_overLimit && Outbox.Send(type) && WithinLimit();

    public bool Send(PacketType type, ReadOnlySpan<byte> last) => !_overLimit && Outbox.Send(type, last) && WithinLimit();

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> last) => !_overLimit && Outbox.Send(type, f0, last) && WithinLimit();

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, in ReadOnlySequence<byte> data) => !_overLimit && Outbox.Send(type, f0, data) && WithinLimit();

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> last)
        => !_overLimit && Outbox.Send(type, f0, f1, last) && WithinLimit();

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> last)
        => !_overLimit && Outbox.Send(type, f0, f1, f2, last) && WithinLimit();

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> f3, ReadOnlySpan<byte> last)
        => !_overLimit && Outbox.Send(type, f0, f1, f2, f3, last) && WithinLimit();

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> f3, ReadOnlySpan<byte> f4, ReadOnlySpan<byte> last)
        => !_overLimit && Outbox.Send(type, f0, f1, f2, f3, f4, last) && WithinLimit();

    /// <summary>
    /// For a transport that can send a job's data from the job's own buffer (epoll): queues <c>prefix</c> (a reply's
    /// header and fields) in <see cref="Outbox"/> with the job's data after it, in order with every other reply.
    /// </summary>
    public LentDataSend? SendWithLentData { get; init; }

    /// <summary>
    /// <c>JOB_ASSIGN</c>, <c>JOB_ASSIGN_UNIQ</c> or <c>JOB_ASSIGN_ALL</c> (<paramref name="type"/>) of <paramref name="job"/>,
    /// under the same cap: a large payload goes out from the job's buffer where the transport can (see
    /// <see cref="SendWithLentData"/>), otherwise it is copied into the outbox.
    /// </summary>
    public bool SendAssign(PacketType type, Job job, ReadOnlySpan<byte> function)
    {
        var unique = job.Unique.Span;
        if (SendWithLentData is not { } sendLent || !job.CanLendData)
        {
            return type switch
            {
                PacketType.JobAssign => Send(type, job.Handle, function, job.Data),
                PacketType.JobAssignAll => Send(type, job.Handle, function, unique, job.Reducer, job.Data),
                _ => Send(type, job.Handle, function, unique, job.Data),
            };
        }

        if (_overLimit) return false;
        var handle = job.Handle;
        var reducer = type == PacketType.JobAssignAll ? job.Reducer : default;
        bool withUnique = type != PacketType.JobAssign;
        int fieldsLength = handle.Length + 1 + function.Length + 1 + (withUnique ? unique.Length + 1 : 0) + (reducer.IsEmpty ? 0 : reducer.Length + 1);
        int prefixLength = PacketReader.HeaderLength + fieldsLength;
        byte[]? rented = prefixLength > MaxStackPrefix ? ArrayPool<byte>.Shared.Rent(prefixLength) : null;
        try
        {
            Span<byte> prefix = rented ?? stackalloc byte[MaxStackPrefix];
            PacketWriter.WriteHeader(prefix, PacketMagic.Response, type, (uint)(fieldsLength + job.Data.Length));
            int at = PacketReader.HeaderLength;
            at = WriteField(prefix, at, handle);
            at = WriteField(prefix, at, function);
            if (withUnique) at = WriteField(prefix, at, unique);
            if (!reducer.IsEmpty) WriteField(prefix, at, reducer);
            return sendLent(prefix[..prefixLength], job) && WithinLimit();
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Whether <see cref="SendRelayed"/> sends from the relayed buffer rather than copying it.</summary>
    public bool SendsLentData => SendWithLentData is not null;

    /// <summary>
    /// A worker's result packet relayed as it came (<paramref name="type"/> with <paramref name="relayed"/>'s bytes as its
    /// body), under the same cap: sent from the request's buffer where the transport can, otherwise copied.
    /// </summary>
    public bool SendRelayed(PacketType type, RelayedBody relayed)
    {
        if (SendWithLentData is not { } sendLent) return Send(type, relayed.Body);
        if (_overLimit) return false;
        Span<byte> header = stackalloc byte[PacketReader.HeaderLength];
        PacketWriter.WriteHeader(header, PacketMagic.Response, type, (uint)relayed.Body.Length);
        return sendLent(header, relayed) && WithinLimit();
    }

    /// <summary>Queues raw bytes (an admin reply), under the same cap.</summary>
    public bool SendRaw(ReadOnlySpan<byte> bytes) => !_overLimit && Outbox.SendRaw(bytes) && WithinLimit();

    public override string ToString() => $"#{Id} {RemoteAddress}";

    private static int WriteField(Span<byte> destination, int at, ReadOnlySpan<byte> field)
    {
        field.CopyTo(destination[at..]);
        destination[at + field.Length] = 0;
        return at + field.Length + 1;
    }

    /// <summary>After each queued reply: over the cap, the connection is closed at once (its queued replies are dropped).</summary>
    private bool WithinLimit()
    {
        long unsent = Outbox.PendingBytes + (TransportUnsent?.Invoke() ?? 0);
        if (unsent <= MaxUnsentBytes) return true;
        _overLimit = true;
        if (Logger is { } logger) ServerLog.UnsentLimitExceeded(logger, ToString(), unsent, MaxUnsentBytes);
        Abort?.Invoke();
        return false;
    }
}

/// <summary>Queues <paramref name="prefix"/> and then what <paramref name="owner"/> lends, read from its buffer when sent; false once the connection takes no more replies.</summary>
internal delegate bool LentDataSend(ReadOnlySpan<byte> prefix, ILentBuffer owner);

/// <summary>One CAN_DO or CAN_DO_TIMEOUT of a connection.</summary>
internal readonly record struct Registration(FunctionRecord Function, int TimeoutMilliseconds);
