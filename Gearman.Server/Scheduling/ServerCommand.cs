using Gearman.Reactive.Protocol;
using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>What the scheduler loop can be asked to do.</summary>
internal enum ServerCommandKind
{
    /// <summary>A binary request packet: <see cref="ServerCommand.Type"/>, body in <see cref="ServerCommand.Buffer"/>.</summary>
    Packet,

    /// <summary>An admin text line in <see cref="ServerCommand.Buffer"/>.</summary>
    AdminLine,

    Connected,

    Disconnected,

    /// <summary>Send an ERROR packet (<see cref="ServerCommand.Error"/>) in order with other replies.</summary>
    ProtocolError,

    /// <summary>A CAN_DO_TIMEOUT timer fired for <see cref="ServerCommand.State"/> (a job) at assignment <see cref="ServerCommand.Number"/>.</summary>
    JobTimeout,

    /// <summary>The earliest delayed epoch job may be due.</summary>
    EpochDue,

    /// <summary>The store writer saved (or failed to save) new background jobs: <see cref="ServerCommand.State"/> is a <see cref="Persistence.StoreAcknowledgement"/>.</summary>
    StoreAck,

    /// <summary>A request from the monitoring port (<see cref="ServerCommand.State"/> is a <see cref="MonitorRequest"/>), run in order with the rest.</summary>
    Monitor,
}

/// <summary>Errors the connection reader reports through the scheduler, so replies keep their order.</summary>
internal enum ProtocolErrorKind
{
    None,
    InvalidMagic,
    InvalidCommand,
    PacketTooLarge,
}

/// <summary>
/// One unit of work for the scheduler loop. A value type, so posting it allocates nothing; <see cref="Buffer"/> is a pooled
/// copy of the packet body; while the command is processed the scheduler holds it in its ownership slot, from which
/// only a new job can take it (see <c>JobScheduler.TakeCommandBuffer</c>); otherwise it is returned after the command.
/// </summary>
internal readonly struct ServerCommand
{
    private ServerCommand(ServerCommandKind kind, PeerConnection? connection)
    {
        Kind = kind;
        Connection = connection;
    }

    public ServerCommandKind Kind { get; }

    public PeerConnection? Connection { get; }

    public PacketType Type { get; private init; }

    public byte[]? Buffer { get; private init; }

    public int Length { get; private init; }

    public PacketFields Fields { get; private init; }

    public ProtocolErrorKind Error { get; private init; }

    public object? State { get; private init; }

    public long Number { get; private init; }

    /// <summary>Whether an admin line ended with CRLF (gearmand's <c>create function</c> quirk depends on it).</summary>
    public bool CrLf { get; private init; }

    public ReadOnlySpan<byte> Body => Buffer.AsSpan(0, Length);

    public static ServerCommand ForPacket(PeerConnection connection, PacketType type, byte[] buffer, int length, in PacketFields fields)
        => new(ServerCommandKind.Packet, connection) { Type = type, Buffer = buffer, Length = length, Fields = fields };

    public static ServerCommand ForAdminLine(PeerConnection connection, byte[] buffer, int length, bool crLf)
        => new(ServerCommandKind.AdminLine, connection) { Buffer = buffer, Length = length, CrLf = crLf };

    public static ServerCommand ForConnected(PeerConnection connection) => new(ServerCommandKind.Connected, connection);

    public static ServerCommand ForDisconnected(PeerConnection connection) => new(ServerCommandKind.Disconnected, connection);

    public static ServerCommand ForError(PeerConnection connection, ProtocolErrorKind error, long detail = 0)
        => new(ServerCommandKind.ProtocolError, connection) { Error = error, Number = detail };

    public static ServerCommand ForJobTimeout(Job job, int assignment)
        => new(ServerCommandKind.JobTimeout, null) { State = job, Number = assignment };

    public static ServerCommand ForEpochDue() => new(ServerCommandKind.EpochDue, null);

    public static ServerCommand ForStoreAck(Persistence.StoreAcknowledgement acknowledgement)
        => new(ServerCommandKind.StoreAck, null) { State = acknowledgement };

    public static ServerCommand ForMonitor(MonitorRequest request) => new(ServerCommandKind.Monitor, null) { State = request };

    /// <summary>Returns <see cref="Buffer"/> to the pool: only for a command that is dropped unprocessed (the scheduler's ownership slot handles the rest).</summary>
    public void ReturnBuffer()
    {
        if (Buffer is { } buffer) RequestBuffers.Return(buffer);
    }
}
