using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Gearman.Server.Networking;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Security;

/// <summary>
/// The TLS listeners of the epoll transport. The epoll loops send and receive raw bytes on non-blocking sockets, which
/// TLS records do not fit without a TLS engine of our own; so a TLS connection is served as a stream instead:
/// <see cref="TlsHandshake"/> over a <see cref="NetworkStream"/>, then the same <see cref="GearmanConnectionHandler"/>
/// (and so the same <see cref="RequestFramer"/> and scheduler) that serves Kestrel connections. Plaintext listeners stay on epoll.
/// </summary>
internal sealed class TlsListener : IHostedService, IDisposable
{
    private readonly IReadOnlyList<IPEndPoint> _requested;
    private readonly ServerCertificates _certificates;
    private readonly GearmanConnectionHandler _handler;
    private readonly ILogger _logger;
    private readonly TimeSpan _stopTimeout;
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<Task, bool> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly GearmanServerOptions _options;

    public TlsListener(
        IReadOnlyList<IPEndPoint> endPoints, GearmanServerOptions options, ServerCertificates certificates, GearmanConnectionHandler handler, ILoggerFactory loggers, TimeSpan stopTimeout)
    {
        _requested = endPoints;
        _options = options;
        _certificates = certificates;
        _handler = handler;
        _logger = loggers.CreateLogger("Gearman.Server.Security");
        _stopTimeout = stopTimeout;
    }

    /// <summary>The bound addresses (real ports); set by <see cref="StartAsync"/>.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; private set; } = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var bound = new List<IPEndPoint>();
        try
        {
            int port = _requested.Count > 0 ? _requested[0].Port : 0;
            foreach (var requested in _requested)
            {
                var listener = ListenSockets.Bind(new IPEndPoint(requested.Address, port), _options);
                _listeners.Add(listener);
                var local = (IPEndPoint)listener.LocalEndPoint!;
                port = local.Port; // port 0: every address gets the port the first one got
                bound.Add(local);
            }
        }
        catch
        {
            foreach (var listener in _listeners) listener.Dispose();
            throw;
        }

        EndPoints = bound;
        foreach (var listener in _listeners) _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(listener), CancellationToken.None));
        return Task.CompletedTask;
    }

    /// <summary>Closes the listening sockets and lets open connections go on (the drain of <c>--shutdown-timeout</c>).</summary>
    public async Task StopAcceptingAsync()
    {
        foreach (var listener in _listeners) listener.Dispose();
        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners) listener.Dispose();
        try
        {
            await Task.WhenAll(_acceptLoops).ConfigureAwait(false);

            // The handler's read loops end on the host's ApplicationStopping, then send what is queued.
            await Task.WhenAll(_connections.Keys).WaitAsync(_stopTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        foreach (var listener in _listeners) listener.Dispose();
        _stopping.Dispose();
    }

    private Task AcceptLoopAsync(Socket listener) => ListenSockets.AcceptLoopAsync(listener, Serve, _logger, _stopping.Token);

    private void Serve(Socket socket)
    {
        var connection = Task.Run(() => ServeAsync(socket), CancellationToken.None);
        _connections[connection] = true;
        _ = connection.ContinueWith(static (t, s) => ((ConcurrentDictionary<Task, bool>)s!).TryRemove(t, out _), _connections, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task ServeAsync(Socket socket)
    {
        socket.NoDelay = true;
        var remote = socket.RemoteEndPoint;
        var session = await TlsHandshake.AuthenticateAsync(new NetworkStream(socket, ownsSocket: true), _certificates, remote?.ToString() ?? "unknown", _logger, _stopping.Token).ConfigureAwait(false);
        if (session is null) return;
        await using (session.Stream.ConfigureAwait(false))
        {
            var pipes = TlsPipes.Create(session.Stream);
            try
            {
                await _handler.ServeAsync(pipes, remote, () => socket.Close(0), CancellationToken.None, session.Identity).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                ServerLog.ConnectionFailed(_logger, ex, remote?.ToString() ?? "unknown");
            }
            finally
            {
                await TlsPipes.CompleteAsync(pipes).ConfigureAwait(false);
            }
        }
    }
}
