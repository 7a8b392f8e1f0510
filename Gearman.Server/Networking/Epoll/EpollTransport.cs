using System.Net;
using System.Net.Sockets;
using Gearman.Server.Hosting;
using Gearman.Server.Scheduling;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Networking.Epoll;

/// <summary>
/// The epoll transport (<c>--transport epoll</c>, the default on Linux): listening sockets with a .NET accept loop each,
/// and <c>--threads</c> <see cref="EpollLoop"/>s that own the accepted sockets round robin. An accepted socket never
/// sees a .NET async operation, so the runtime's own socket engine never registers it; it is read and written only
/// through <see cref="LinuxInterop"/>. Runs as a hosted service, so a signal stops it like Kestrel: stop accepting, stop
/// reading, send what is queued, close.
/// </summary>
internal sealed class EpollTransport : IHostedService, IDisposable
{
    private readonly JobScheduler _scheduler;
    private readonly GearmanServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeSpan _stopTimeout;
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly CancellationTokenSource _stopAccepting = new();
    private EpollLoop[] _loops = [];
    private int _nextLoop;

    public EpollTransport(JobScheduler scheduler, GearmanServerOptions options, ILoggerFactory loggers, TimeSpan stopTimeout)
    {
        _scheduler = scheduler;
        _options = options;
        _logger = loggers.CreateLogger("Gearman.Server.Networking.Epoll");
        _stopTimeout = stopTimeout;
    }

    /// <summary>The bound addresses (real ports); set by <see cref="StartAsync"/>.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; private set; } = [];

    /// <summary>The loops, for tests.</summary>
    internal IReadOnlyList<EpollLoop> Loops => _loops;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!LinuxInterop.IsSupported) throw new PlatformNotSupportedException("The epoll transport needs Linux on x64 or arm64; use --transport kestrel.");
        var endPoints = new List<IPEndPoint>();
        try
        {
            int port = _options.Port;
            foreach (var address in ListenAddresses())
            {
                var listener = Bind(new IPEndPoint(address, port));
                _listeners.Add(listener);
                var bound = (IPEndPoint)listener.LocalEndPoint!;
                port = bound.Port; // port 0: every address gets the port the first one got
                endPoints.Add(bound);
            }

            var framer = new RequestFramer(_scheduler, _options, _logger);
            _loops = new EpollLoop[Math.Max(1, _options.IoThreads)];
            for (int i = 0; i < _loops.Length; i++) _loops[i] = new EpollLoop(i, _scheduler, framer, _options, _logger, _stopTimeout);
        }
        catch
        {
            foreach (var listener in _listeners) listener.Dispose();
            foreach (var loop in _loops) loop?.Dispose();
            throw;
        }

        foreach (var loop in _loops) loop.Start();
        EndPoints = endPoints;
        foreach (var listener in _listeners) _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(listener), CancellationToken.None));
        return Task.CompletedTask;
    }

    /// <summary>Closes the listening sockets; connections already accepted go on (the drain of --shutdown-timeout).</summary>
    public Task StopAcceptingAsync(CancellationToken cancellationToken = default) => StopAcceptLoopsAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await StopAcceptLoopsAsync(cancellationToken).ConfigureAwait(false);

        foreach (var loop in _loops) loop.Stop();
        try
        {
            await Task.WhenAll(_loops.Select(l => l.Exited)).WaitAsync(_stopTimeout + TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A loop that does not exit is a background thread; the process can still end.
        }
    }

    private async Task StopAcceptLoopsAsync(CancellationToken cancellationToken)
    {
        await _stopAccepting.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners) listener.Dispose();
        try
        {
            await Task.WhenAll(_acceptLoops).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        foreach (var listener in _listeners) listener.Dispose();
        foreach (var loop in _loops) loop.Dispose();
        _stopAccepting.Dispose();
    }

    private Socket Bind(IPEndPoint endPoint) => ListenSockets.Bind(endPoint, _options);

    private IEnumerable<IPAddress> ListenAddresses() => ListenSockets.Addresses(_options.ListenAddress);

    private Task AcceptLoopAsync(Socket listener) => ListenSockets.AcceptLoopAsync(
        listener,
        socket => _loops[(int)((uint)Interlocked.Increment(ref _nextLoop) % (uint)_loops.Length)].Adopt(socket),
        _logger,
        _stopAccepting.Token);
}
