using System.Buffers;
using System.Buffers.Binary;
using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Gearman.Server.Scheduling;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Networking;

/// <summary>
/// The transport-neutral half of a connection's reader: frames binary packets and admin lines (told apart by the first
/// byte, protocol.md §1.1), copies each body once into a pooled buffer (or takes a large body a transport received straight into its own
/// buffer, see <see cref="TakesBodyDirectly"/>) and posts it to the scheduler, in order. Protocol
/// violations are logged here and reported as <see cref="FrameStatus.Close"/>, so every transport closes on the same
/// input (bad magic, a declared size over <c>--max-packet-size</c>, too few fields, an unknown type, an admin line over
/// <see cref="MaxAdminLineLength"/>).
/// </summary>
internal sealed class RequestFramer
{
    /// <summary>gearmand reads admin lines into an 8 KiB buffer; longer lines are refused.</summary>
    public const int MaxAdminLineLength = 8192;

    private readonly JobScheduler _scheduler;
    private readonly uint _maxPacketSize;
    private readonly ILogger _logger;

    public RequestFramer(JobScheduler scheduler, GearmanServerOptions options, ILogger logger)
    {
        _scheduler = scheduler;
        // A body is copied into one array, so no setting may admit more than an array holds (the casts below rely on it).
        _maxPacketSize = (uint)Math.Clamp(options.MaxPacketSize, 0, Array.MaxLength - PacketReader.HeaderLength);
        _logger = logger;
    }

    /// <summary>
    /// Frames the request at the start of <paramref name="buffer"/> (which must not be empty) and posts it. The caller
    /// must let <paramref name="posted"/> complete before it posts again (it almost always has; see
    /// <see cref="JobScheduler.PostAsync"/>), and calls <see cref="JobScheduler.Drain"/> once its buffer is used up.
    /// </summary>
    /// <param name="peer">The connection the bytes came from.</param>
    /// <param name="buffer">Advanced past the request when one was consumed.</param>
    /// <param name="posted">The post, when one was made (also for a refused packet size, whose error reply is posted before the close).</param>
    /// <param name="cancellationToken">Cancels a post that waits for room in the scheduler's queue.</param>
    public FrameStatus PostNext(PeerConnection peer, ref ReadOnlySequence<byte> buffer, out ValueTask posted, CancellationToken cancellationToken = default)
    {
        posted = ValueTask.CompletedTask;
        if (PacketReader.StartsWithBinaryPacket(buffer))
        {
            var status = PacketReader.TryRead(ref buffer, _maxPacketSize, out var packet, out uint size);
            switch (status)
            {
                case PacketReadStatus.Incomplete:
                    return FrameStatus.Incomplete;
                case PacketReadStatus.InvalidMagic:
                    // gearmand closes without a reply (protocol.md §1.3).
                    ServerLog.ProtocolViolation(_logger, peer.ToString(), "bad packet magic");
                    return FrameStatus.Close;
                case PacketReadStatus.TooLarge:
                    ServerLog.ProtocolViolation(_logger, peer.ToString(), $"declared packet size {size} exceeds --max-packet-size {_maxPacketSize}");
                    posted = _scheduler.PostAsync(ServerCommand.ForError(peer, ProtocolErrorKind.PacketTooLarge, size), cancellationToken);
                    return FrameStatus.Close;
                default:
                    return PostPacket(peer, packet, out posted, cancellationToken);
            }
        }

        var lineStatus = AdminLineReader.TryReadLine(ref buffer, MaxAdminLineLength, out var line, out bool crLf);
        if (lineStatus == AdminLineStatus.Incomplete) return FrameStatus.Incomplete;
        if (lineStatus == AdminLineStatus.TooLong)
        {
            ServerLog.ProtocolViolation(_logger, peer.ToString(), $"admin line longer than {MaxAdminLineLength} bytes");
            return FrameStatus.Close;
        }

        int length = (int)line.Length;
        var copy = RequestBuffers.Rent(length);
        line.CopyTo(copy);
        posted = _scheduler.PostAsync(ServerCommand.ForAdminLine(peer, copy, length, crLf), cancellationToken);
        return FrameStatus.Posted;
    }

    /// <summary>Logs what a connection that ends with <paramref name="unread"/> bytes of an unfinished request left behind.</summary>
    public void ClosedInsideRequest(PeerConnection peer, long unread)
        => ServerLog.BadRequest(_logger, peer.ToString(), $"connection closed inside a packet ({unread} bytes unread)");

    /// <summary>Types a client or worker may send; the rest get INVALID_COMMAND (protocol.md §1.3).</summary>
    private static bool IsRequest(PacketType type) => type switch
    {
        PacketType.Unused5 or PacketType.Noop or PacketType.JobCreated or PacketType.NoJob or PacketType.JobAssign
            or PacketType.EchoRes or PacketType.Error or PacketType.StatusRes or PacketType.OptionRes or PacketType.JobAssignUniq
            or PacketType.JobAssignAll or PacketType.StatusResUnique or PacketType.AllYours or PacketType.SubmitJobSched => false,
        _ => true,
    };

    /// <summary>
    /// Whether the binary packet whose header <paramref name="header"/> holds should have its body received straight into
    /// its own buffer: a request with a body over <see cref="RequestBuffers.MaxPooledLength"/> and within
    /// <c>--max-packet-size</c>. Packets that will be refused keep the ordinary path (and are refused there, before any
    /// allocation for an oversized body).
    /// </summary>
    /// <param name="header">At least <see cref="PacketReader.HeaderLength"/> bytes.</param>
    /// <param name="bodyLength">The declared body size, when true.</param>
    public bool TakesBodyDirectly(ReadOnlySpan<byte> header, out int bodyLength)
    {
        uint declared = BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
        bodyLength = (int)Math.Min(declared, (uint)int.MaxValue);
        var type = (PacketType)BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        return declared > RequestBuffers.MaxPooledLength
            && declared <= _maxPacketSize
            && (PacketMagic)BinaryPrimitives.ReadUInt32BigEndian(header) == PacketMagic.Request
            && PacketLayout.IsDefined(type)
            && IsRequest(type);
    }

    /// <summary>
    /// Posts a request whose body a transport received straight into <paramref name="body"/> (see
    /// <see cref="TakesBodyDirectly"/>); the scheduler takes the buffer, or it is returned here.
    /// </summary>
    public FrameStatus PostReceivedBody(PeerConnection peer, ReadOnlySpan<byte> header, byte[] body, out ValueTask posted, CancellationToken cancellationToken = default)
    {
        var type = (PacketType)BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        return PostBody(peer, type, body, body.Length, out posted, cancellationToken);
    }

    private FrameStatus PostPacket(PeerConnection peer, Packet packet, out ValueTask posted, CancellationToken cancellationToken)
    {
        posted = ValueTask.CompletedTask;
        var type = packet.Type;
        if (!PacketLayout.IsDefined(type))
        {
            ServerLog.ProtocolViolation(_logger, peer.ToString(), $"unknown packet type {(uint)type}");
            return FrameStatus.Close;
        }

        if (packet.Magic != PacketMagic.Request)
        {
            posted = _scheduler.PostAsync(ServerCommand.ForError(peer, ProtocolErrorKind.InvalidMagic), cancellationToken);
            return FrameStatus.Posted;
        }

        if (!IsRequest(type))
        {
            ServerLog.BadRequest(_logger, peer.ToString(), $"{type} is not a request");
            posted = _scheduler.PostAsync(ServerCommand.ForError(peer, ProtocolErrorKind.InvalidCommand), cancellationToken);
            return FrameStatus.Posted;
        }

        int length = (int)packet.Body.Length;
        var copy = RequestBuffers.Rent(length);
        packet.Body.CopyTo(copy);
        return PostBody(peer, type, copy, length, out posted, cancellationToken);
    }

    private FrameStatus PostBody(PeerConnection peer, PacketType type, byte[] copy, int length, out ValueTask posted, CancellationToken cancellationToken)
    {
        posted = ValueTask.CompletedTask;
        if (!PacketFields.TrySplit(PacketLayout.Of(type).Fields, copy.AsSpan(0, length), out var fields))
        {
            RequestBuffers.Return(copy);

            // Split within the declared size only; too few separators ends the connection (protocol.md §1.1).
            ServerLog.ProtocolViolation(_logger, peer.ToString(), $"{type} has too few NUL-separated fields");
            return FrameStatus.Close;
        }

        posted = _scheduler.PostAsync(ServerCommand.ForPacket(peer, type, copy, length, fields), cancellationToken);
        return FrameStatus.Posted;
    }
}
