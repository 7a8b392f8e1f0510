using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Gearman.Server.Scheduling;
using Gearman.Server.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Networking;

/// <summary>
/// The Kestrel transport (<c>--transport kestrel</c>): Kestrel hands every accepted TCP connection here. The reader
/// hands each read buffer to a <see cref="RequestFramer"/>, which posts the requests to the scheduler in order; once a
/// read buffer is used up it drains the scheduler (see <see cref="JobScheduler.Drain"/>), which flushes the replies through
/// the connections' <see cref="Reactive.Connections.PacketOutbox"/> write loops.
/// </summary>
internal sealed class GearmanConnectionHandler : ConnectionHandler
{
    private readonly JobScheduler _scheduler;
    private readonly GearmanServerOptions _options;
    private readonly ILogger _logger;
    private readonly RequestFramer _framer;

    private readonly CancellationToken _stopping;

    public GearmanConnectionHandler(JobScheduler scheduler, GearmanServerOptions options, ILogger<GearmanConnectionHandler> logger, IHostApplicationLifetime lifetime)
    {
        _stopping = lifetime.ApplicationStopping;
        _scheduler = scheduler;
        _options = options;
        _logger = logger;
        _framer = new RequestFramer(scheduler, options, logger);
    }

    public override Task OnConnectedAsync(ConnectionContext connection)
        => ServeAsync(connection.Transport, connection.RemoteEndPoint, connection.Abort, connection.ConnectionClosed, connection.Features.Get<PeerIdentityFeature>()?.Identity);

    /// <summary>
    /// Serves one connection over <paramref name="transport"/> until it closes: a Kestrel connection, or a TLS stream of
    /// either transport (<see cref="Security.TlsListener"/>), whose <paramref name="identity"/> the handshake verified.
    /// </summary>
    internal async Task ServeAsync(IDuplexPipe transport, EndPoint? remoteEndPoint, Action abort, CancellationToken connectionClosed, PeerIdentity? identity)
    {
        string remote = (remoteEndPoint as IPEndPoint)?.Address.ToString() ?? "unknown";
        var output = new OutputState();
        var peer = new PeerConnection(PeerConnection.NextId(), remote, _options.Exceptions, _scheduler.FlushLater, () => output.Signal.Set(runWaiterInline: true))
        {
            Abort = abort,
            Identity = identity,
            MaxUnsentBytes = _options.EffectiveMaxUnsentBytes,
            TransportUnsent = () => output.InFlight,
            Logger = _logger,
        };
        ServerLog.ConnectionOpened(_logger, peer.ToString());
        var writeLoop = WriteLoopAsync(peer, transport.Output, output);
        bool posted = false;

        // Queued replies are still flushed below when reading ends.
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(connectionClosed, _stopping);
        try
        {
            await _scheduler.PostAsync(ServerCommand.ForConnected(peer), reading.Token).ConfigureAwait(false);
            posted = true;
            _scheduler.Drain();
            // Not cancelled by ConnectionClosed: a peer that sends requests and closes at once (or half-closes) must
            // still have every request it sent processed; the loop ends when the input completes or the server stops.
            await ReadLoopAsync(peer, transport.Input, _stopping).ConfigureAwait(false);
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
            // Not cancellable: the scheduler must learn about every disconnect to requeue the worker's jobs.
            await _scheduler.DisconnectAsync(peer, posted).ConfigureAwait(false);
            await writeLoop.ConfigureAwait(false);
            peer.Outbox.Dispose();
            ServerLog.ConnectionClosed(_logger, peer.ToString());
        }
    }

    /// <summary>
    /// Writes the outbox's batches to Kestrel's pipe. Not <see cref="Reactive.Connections.PacketOutbox.RunAsync(System.IO.Pipelines.PipeWriter, CancellationToken)"/>: the
    /// batch being flushed must count toward <c>--max-unsent-bytes</c> until Kestrel has taken it (<see cref="OutputState.InFlight"/>),
    /// or a peer that does not read could have any amount buffered here.
    /// </summary>
    private static async Task WriteLoopAsync(PeerConnection peer, PipeWriter output, OutputState state)
    {
        var spare = new Reactive.Connections.PooledBufferWriter();
        try
        {
            while (true)
            {
                await state.Signal.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                var batch = peer.Outbox.SwapPending(spare, out bool completed);
                spare = batch;
                if (batch.WrittenCount > 0)
                {
                    state.InFlight = batch.WrittenCount;
                    output.Write(batch.WrittenSpan);
                    batch.Clear();
                    var flush = await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                    state.InFlight = 0;
                    if (flush.IsCompleted || flush.IsCanceled) return;
                }

                // Complete is seen together with the last batch (both under the outbox's lock).
                if (completed) return;
            }
        }
        catch (Exception)
        {
            // The peer went away; the reader sees it too and reports the disconnect.
            peer.Abort?.Invoke();
        }
        finally
        {
            spare.Dispose();
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
                    var status = _framer.PostNext(peer, ref buffer, out var posted, cancellationToken);
                    if (posted.IsCompletedSuccessfully) posted.GetAwaiter().GetResult();
                    else await posted.ConfigureAwait(false);
                    if (status == FrameStatus.Incomplete) break;
                    if (status == FrameStatus.Close) return;
                }

                // One batch per read: replies to pipelined requests leave in one write.
                _scheduler.Drain();
                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty) _framer.ClosedInsideRequest(peer, buffer.Length);
                    return;
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    /// <summary>The write loop's wake-up and the bytes it has handed to Kestrel that Kestrel has not yet taken.</summary>
    private sealed class OutputState
    {
        private long _inFlight;

        public Reactive.Connections.AsyncSignal Signal { get; } = new();

        public long InFlight
        {
            get => Volatile.Read(ref _inFlight);
            set => Volatile.Write(ref _inFlight, value);
        }
    }
}
