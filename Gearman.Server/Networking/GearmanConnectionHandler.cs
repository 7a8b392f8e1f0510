using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Gearman.Server.Scheduling;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Networking;

/// <summary>
/// Kestrel hands every accepted TCP connection here. The reader frames binary packets and admin lines (told apart by
/// the first byte, spec §1.1), copies each body once into a pooled buffer and posts it to the scheduler in order; the
/// connection's <see cref="Reactive.Connections.PacketOutbox"/> write loop sends the replies.
/// </summary>
internal sealed class GearmanConnectionHandler : ConnectionHandler
{
    /// <summary>gearmand reads admin lines into an 8 KiB buffer; longer lines are refused.</summary>
    private const int MaxAdminLineLength = 8192;

    private static int _nextConnectionId;

    private readonly JobScheduler _scheduler;
    private readonly GearmanServerOptions _options;
    private readonly ILogger _logger;

    private readonly CancellationToken _stopping;

    public GearmanConnectionHandler(JobScheduler scheduler, GearmanServerOptions options, ILogger<GearmanConnectionHandler> logger, IHostApplicationLifetime lifetime)
    {
        _stopping = lifetime.ApplicationStopping;
        _scheduler = scheduler;
        _options = options;
        _logger = logger;
    }

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        string remote = (connection.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "unknown";
        var peer = new PeerConnection(Interlocked.Increment(ref _nextConnectionId), remote, _options.Exceptions)
        {
            Abort = connection.Abort,
        };
        ServerLog.ConnectionOpened(_logger, peer.ToString());
        var writeLoop = WriteLoopAsync(peer, connection.Transport.Output);
        bool posted = false;

        // Queued replies are still flushed below when reading ends.
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed, _stopping);
        try
        {
            await _scheduler.PostAsync(ServerCommand.ForConnected(peer), reading.Token).ConfigureAwait(false);
            posted = true;
            // Not cancelled by ConnectionClosed: a peer that sends requests and closes at once (or half-closes) must
            // still have every request it sent processed; the loop ends when the input completes or the server stops.
            await ReadLoopAsync(peer, connection.Transport.Input, _stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (ConnectionResetException)
        {
        }
        catch (Exception ex) when (ex is not System.Threading.Channels.ChannelClosedException)
        {
            ServerLog.ConnectionFailed(_logger, ex, peer.ToString());
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            // The server is stopping.
        }
        finally
        {
            if (posted)
            {
                try
                {
                    // Not cancellable: the scheduler must learn about every disconnect to requeue the worker's jobs.
                    await _scheduler.PostAsync(ServerCommand.ForDisconnected(peer)).ConfigureAwait(false);
                }
                catch (System.Threading.Channels.ChannelClosedException)
                {
                    peer.Outbox.Complete();
                }
            }
            else
            {
                peer.Outbox.Complete();
            }

            await writeLoop.ConfigureAwait(false);
            peer.Outbox.Dispose();
            ServerLog.ConnectionClosed(_logger, peer.ToString());
        }
    }

    private static async Task WriteLoopAsync(PeerConnection peer, PipeWriter output)
    {
        try
        {
            await peer.Outbox.RunAsync(output, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The peer went away; the reader sees it too and reports the disconnect.
            peer.Abort?.Invoke();
        }
    }

    private async Task ReadLoopAsync(PeerConnection peer, PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            try
            {
                while (!buffer.IsEmpty)
                {
                    if (PacketReader.StartsWithBinaryPacket(buffer))
                    {
                        var status = PacketReader.TryRead(ref buffer, _options.MaxPacketSize, out var packet, out uint size);
                        if (status == PacketReadStatus.Incomplete) break;
                        if (status == PacketReadStatus.InvalidMagic)
                        {
                            // gearmand closes without a reply (spec §1.3).
                            ServerLog.ProtocolViolation(_logger, peer.ToString(), "bad packet magic");
                            return;
                        }

                        if (status == PacketReadStatus.TooLarge)
                        {
                            ServerLog.ProtocolViolation(_logger, peer.ToString(), $"declared packet size {size} exceeds --max-packet-size {_options.MaxPacketSize}");
                            await _scheduler.PostAsync(ServerCommand.ForError(peer, ProtocolErrorKind.PacketTooLarge, size), cancellationToken).ConfigureAwait(false);
                            return;
                        }

                        if (!await HandlePacketAsync(peer, packet, cancellationToken).ConfigureAwait(false)) return;
                    }
                    else
                    {
                        var status = AdminLineReader.TryReadLine(ref buffer, MaxAdminLineLength, out var line, out bool crLf);
                        if (status == AdminLineStatus.Incomplete) break;
                        if (status == AdminLineStatus.TooLong)
                        {
                            ServerLog.ProtocolViolation(_logger, peer.ToString(), $"admin line longer than {MaxAdminLineLength} bytes");
                            return;
                        }

                        int length = (int)line.Length;
                        var copy = length == 0 ? [] : ArrayPool<byte>.Shared.Rent(length);
                        line.CopyTo(copy);
                        await _scheduler.PostAsync(ServerCommand.ForAdminLine(peer, copy, length, crLf), cancellationToken).ConfigureAwait(false);
                    }
                }

                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty) ServerLog.BadRequest(_logger, peer.ToString(), $"connection closed inside a packet ({buffer.Length} bytes unread)");
                    return;
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    /// <returns>False when the connection must close.</returns>
    private async ValueTask<bool> HandlePacketAsync(PeerConnection peer, Packet packet, CancellationToken cancellationToken)
    {
        var type = packet.Type;
        if (!PacketLayout.IsDefined(type))
        {
            ServerLog.ProtocolViolation(_logger, peer.ToString(), $"unknown packet type {(uint)type}");
            return false;
        }

        if (packet.Magic != PacketMagic.Request)
        {
            await _scheduler.PostAsync(ServerCommand.ForError(peer, ProtocolErrorKind.InvalidMagic), cancellationToken).ConfigureAwait(false);
            return true;
        }

        if (!IsRequest(type))
        {
            ServerLog.BadRequest(_logger, peer.ToString(), $"{type} is not a request");
            await _scheduler.PostAsync(ServerCommand.ForError(peer, ProtocolErrorKind.InvalidCommand), cancellationToken).ConfigureAwait(false);
            return true;
        }

        int length = (int)packet.Body.Length;
        var copy = length == 0 ? [] : ArrayPool<byte>.Shared.Rent(length);
        packet.Body.CopyTo(copy);
        if (!PacketFields.TrySplit(PacketLayout.Of(type).Fields, copy.AsSpan(0, length), out var fields))
        {
            if (copy.Length > 0) ArrayPool<byte>.Shared.Return(copy);

            // Split within the declared size only; too few separators ends the connection (spec §1.1).
            ServerLog.ProtocolViolation(_logger, peer.ToString(), $"{type} has too few NUL-separated fields");
            return false;
        }

        await _scheduler.PostAsync(ServerCommand.ForPacket(peer, type, copy, length, fields), cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Types a client or worker may send; the rest get INVALID_COMMAND (spec §1.3).</summary>
    private static bool IsRequest(PacketType type) => type switch
    {
        PacketType.Unused5 or PacketType.Noop or PacketType.JobCreated or PacketType.NoJob or PacketType.JobAssign
            or PacketType.EchoRes or PacketType.Error or PacketType.StatusRes or PacketType.OptionRes or PacketType.JobAssignUniq
            or PacketType.JobAssignAll or PacketType.StatusResUnique or PacketType.AllYours or PacketType.SubmitJobSched => false,
        _ => true,
    };
}
