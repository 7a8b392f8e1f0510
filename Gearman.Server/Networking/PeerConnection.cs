using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;
using Gearman.Server.Scheduling;

namespace Gearman.Server.Networking;

/// <summary>
/// The server's view of one TCP connection, which may act as client, worker and admin at once (spec: the server
/// assigns no roles). Everything but <see cref="Outbox"/> is owned by the scheduler loop.
/// </summary>
internal sealed class PeerConnection
{
    private static readonly byte[] DefaultClientId = "-"u8.ToArray();

    public PeerConnection(int id, string remoteAddress, bool exceptions)
    {
        Id = id;
        RemoteAddress = remoteAddress;
        ExceptionsEnabled = exceptions;
        Outbox = new PacketOutbox(PacketMagic.Response);
    }

    /// <summary>A small number shown where gearmand shows the socket's file descriptor (admin <c>workers</c>).</summary>
    public int Id { get; }

    public string RemoteAddress { get; }

    /// <summary>Replies to this connection; thread-safe.</summary>
    public PacketOutbox Outbox { get; }

    public byte[] ClientId { get; set; } = DefaultClientId;

    /// <summary>Set by <c>OPTION_REQ exceptions</c>: WORK_EXCEPTION is forwarded instead of WORK_FAIL.</summary>
    public bool ExceptionsEnabled { get; set; }

    /// <summary>CAN_DO registrations, most recent first (the round-robin order of spec §2.5).</summary>
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

    /// <summary>Closes the transport at once (set by the connection handler); the reader then reports the disconnect.</summary>
    public Action? Abort { get; set; }

    /// <summary>Set by the scheduler once it has processed the disconnect.</summary>
    public bool IsClosed { get; set; }

    public override string ToString() => $"#{Id} {RemoteAddress}";
}

/// <summary>One CAN_DO or CAN_DO_TIMEOUT of a connection.</summary>
internal readonly record struct Registration(FunctionRecord Function, int TimeoutMilliseconds);
