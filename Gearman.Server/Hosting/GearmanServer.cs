using System.Diagnostics.Metrics;
using System.Net;
using Gearman.Server.Diagnostics;
using Gearman.Server.Networking;
using Gearman.Server.Networking.Epoll;
using Gearman.Server.Persistence;
using Gearman.Server.Scheduling;
using Gearman.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Hosting;

/// <summary>
/// A running job server: a transport (<see cref="EpollTransport"/>, or Kestrel with <see cref="GearmanConnectionHandler"/>)
/// accepts TCP connections and feeds the <see cref="JobScheduler"/>. Tests and the command line both start it through <see cref="StartAsync"/>.
/// </summary>
internal sealed class GearmanServer : IAsyncDisposable
{
    /// <summary>How long a graceful stop waits for connections to send what is queued.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How often a drain checks whether running jobs are done.</summary>
    private static readonly TimeSpan DrainPollInterval = TimeSpan.FromMilliseconds(50);

    private readonly IHost _app;
    private readonly JobScheduler _scheduler;
    private Task? _stop;
    private WebFrontEnds? _web;
    private readonly GearmanServerOptions _options;
    private readonly DrainGate _drainGate;

    private GearmanServer(
        IHost app, JobScheduler scheduler, GearmanServerOptions options, DrainGate drainGate, IPEndPoint endPoint, ServerTransport transport, IPEndPoint? plaintextEndPoint)
    {
        _options = options;
        _drainGate = drainGate;
        PlaintextEndPoint = plaintextEndPoint;
        Transport = transport;
        _app = app;
        _scheduler = scheduler;
        EndPoint = endPoint;
    }

    /// <summary>Where the server listens (the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Where gearmand's HTTP job protocol listens (<c>--http-port</c>), or null.</summary>
    public IPEndPoint? HttpEndPoint => _web?.HttpEndPoint;

    /// <summary>Where the monitoring port listens (<c>--monitor-port</c>), or null.</summary>
    public IPEndPoint? MonitorEndPoint => _web?.MonitorEndPoint;

    /// <summary>With TLS, the extra plaintext listener (<c>--plain-port</c>), if any; null otherwise.</summary>
    public IPEndPoint? PlaintextEndPoint { get; }

    /// <summary>The certificate and rules reloader (null without TLS and access rules), for tests.</summary>
    internal SecurityReloader? SecurityReloader => _app.Services.GetService<SecurityReloader>();

    /// <summary>The host's services (tests read the meter factory, to listen to this server's metrics only).</summary>
    internal IServiceProvider Services => _app.Services;

    /// <summary>The transport serving the sockets (never <see cref="ServerTransport.Auto"/>).</summary>
    public ServerTransport Transport { get; }

    /// <summary>The epoll transport's loops (empty with Kestrel), for tests.</summary>
    internal IReadOnlyList<EpollLoop> EpollLoops => _app.Services.GetService<EpollTransport>()?.Loops ?? [];

    /// <summary>Completes when the server has stopped (by <see cref="StopAsync"/> or a signal).</summary>
    public Task Stopped => _app.WaitForShutdownAsync();

    /// <summary>
    /// Starts a server and returns once it accepts connections. With a durable queue the store is opened and replayed
    /// first. Settings that can never work throw <see cref="JobStoreUnavailableException"/>; a store that is merely
    /// unreachable does not stop the server: it starts degraded (foreground jobs only) and replays once the store is back.
    /// </summary>
    public static async Task<GearmanServer> StartAsync(GearmanServerOptions options, CancellationToken cancellationToken = default, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        IJobStore? store;
        try
        {
            store = JobStores.Create(options);
        }
        catch (ArgumentException ex)
        {
            throw new JobStoreUnavailableException($"Invalid job store settings: {ex.Message}", ex);
        }

        return await StartWithStoreAsync(options, store, cancellationToken, configureLogging).ConfigureAwait(false);
    }

    /// <summary>Starts a server on <paramref name="store"/> (null: memory only) instead of the one the options name; the server owns the store.</summary>
    internal static async Task<GearmanServer> StartWithStoreAsync(GearmanServerOptions options, IJobStore? store, CancellationToken cancellationToken = default, Action<ILoggingBuilder>? configureLogging = null)
    {
        IReadOnlyList<JobRecord>? stored = [];
        Exception? unavailable = null;
        if (store is not null)
        {
            try
            {
                await store.OpenAsync(cancellationToken).ConfigureAwait(false);
                stored = await store.LoadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (JobStoreConfigurationException ex)
            {
                await store.DisposeAsync().ConfigureAwait(false);
                throw new JobStoreUnavailableException($"Could not open the job store {store.Description}: {ex.Message}", ex);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Unreachable for now (the database is down, or the disk failed): start without it (issue 7).
                await store.CloseAsync().ConfigureAwait(false);
                stored = null;
                unavailable = ex;
            }
            catch
            {
                await store.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        try
        {
            return await StartCoreAsync(options, store, stored, unavailable, cancellationToken, configureLogging).ConfigureAwait(false);
        }
        catch
        {
            if (store is not null) await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Builds and starts the host; <c>stored</c> is null when the store was unreachable (why: <c>unavailable</c>).</summary>
    private static async Task<GearmanServer> StartCoreAsync(GearmanServerOptions options, IJobStore? store, IReadOnlyList<JobRecord>? stored, Exception? unavailable, CancellationToken cancellationToken, Action<ILoggingBuilder>? configureLogging)
    {
        var transport = options.EffectiveTransport;
        if (transport == ServerTransport.Epoll && !LinuxInterop.IsSupported)
        {
            throw new PlatformNotSupportedException("The epoll transport needs Linux on x64 or arm64; use the Kestrel transport.");
        }

        // Files that can never work stop the start, like a bad store setting (TlsConfigurationException).
        var certificates = options.Tls is { } tls ? ServerCertificates.Load(tls) : null;
        var access = options.AccessRulesFile is { } rulesFile ? AccessControl.Load(rulesFile) : null;

        IHostApplicationBuilder builder = transport == ServerTransport.Epoll
            ? Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], DisableDefaults = true })
            : WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        if (configureLogging is not null) configureLogging(builder.Logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.Services.AddSingleton(options);
        var drainGate = new DrainGate();
        if (options.ShutdownDrain > TimeSpan.Zero) builder.Services.AddSingleton<IHostLifetime, DrainingLifetime>();
        builder.Services.AddSingleton(sp =>
        {
            var loggers = sp.GetRequiredService<ILoggerFactory>();
            var metrics = sp.GetRequiredService<ServerMetrics>();
            var writer = store is null ? null : new JobStoreWriter(store, loggers.CreateLogger("Gearman.Server.Persistence"), metrics: metrics);
            return new JobScheduler(options, loggers.CreateLogger("Gearman.Server.Scheduler"), store: writer, metrics: metrics)
            {
                Stopping = sp.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping,
                Access = access,
            };
        });
        // Hosted services stop in reverse order, after the transports registered below (and Kestrel's, always last):
        // the transports drain, then the scheduler finishes, then the store writer applies what it queued.
        if (store is not null)
        {
            builder.Services.AddSingleton(sp => new JobStoreWriterService(sp.GetRequiredService<JobScheduler>().StoreWriter!, sp.GetRequiredService<JobScheduler>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<JobStoreWriterService>());
        }

        builder.Services.AddSingleton<SchedulerService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SchedulerService>());
        if (certificates is not null) builder.Services.AddSingleton(certificates);
        if (certificates is not null || access is not null)
        {
            builder.Services.AddSingleton(sp => new SecurityReloader(certificates, access, sp.GetRequiredService<ILoggerFactory>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<SecurityReloader>());
        }

        builder.Services.AddMetrics();
        builder.Services.AddSingleton(sp => new ServerMetrics(sp.GetRequiredService<IMeterFactory>()));
        IHost app;
        var kestrelListeners = new List<(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions Listen, bool Tls)>();
        if (builder is WebApplicationBuilder web)
        {
            ConfigureKestrel(web, options, drainGate, certificates, kestrelListeners);
            app = web.Build();
        }
        else
        {
            AddEpollTransport((HostApplicationBuilder)builder, options, certificates);
            app = ((HostApplicationBuilder)builder).Build();
        }

        var scheduler = app.Services.GetRequiredService<JobScheduler>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gearman.Server");
        if (scheduler.StoreWriter is { } storeWriter)
        {
            // Replay before the loop runs and before anything can connect (protocol.md §6.2); or, degraded, once the store is back.
            if (stored is not null)
            {
                ServerLog.StoreOpened(logger, storeWriter.Store.Description);
                scheduler.LogReplay(storeWriter.Store.Description, scheduler.Replay(stored));
            }
            else
            {
                string reason = JobStoreWriter.Describe(unavailable!);
                ServerLog.StoreUnavailableAtStart(logger, storeWriter.Store.Description, reason);
                storeWriter.StartUnavailable(reason);
            }
        }

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The host does not stop the services it had started when a later one fails (a transport that cannot bind).
            await StopSchedulerAndStoreAsync(app.Services).ConfigureAwait(false);
            await DisposeHostAsync(app).ConfigureAwait(false);
            throw;
        }

        var (endPoints, plaintext) = BoundEndPoints(app, kestrelListeners);
        var server = new GearmanServer(app, scheduler, options, drainGate, endPoints[0], transport, options.Tls is null ? null : plaintext.FirstOrDefault());
        if (app.Services.GetService<IHostLifetime>() is DrainingLifetime draining) draining.Stop = () => server.StopAsync();
        foreach (var address in endPoints) ServerLog.Listening(logger, options.Tls is null ? address.ToString() : $"{address} (TLS)");
        if (options.Tls is not null)
        {
            foreach (var address in plaintext) ServerLog.Listening(logger, $"{address} (plaintext)");
        }

        try
        {
            var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
            server._web = await WebFrontEnds.StartAsync(options, scheduler, app.Services.GetRequiredService<ILoggerFactory>(), lifetime.ApplicationStopping, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return server;
    }

    /// <summary>
    /// Stops accepting, lets connections finish their writes, then stops the scheduler. The stop runs once, whoever asks
    /// first (the owner, a signal, <see cref="DisposeAsync"/>); later calls wait for that one, so a second signal during
    /// a drain cannot stop the scheduler while the transports still deliver results.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _stop, mine.Task, null) is { } first)
        {
            await first.ConfigureAwait(false);
            return;
        }

        try
        {
            if (_options.ShutdownDrain > TimeSpan.Zero) await DrainAsync(_options.ShutdownDrain).ConfigureAwait(false);
            // After the drain (or without one) HTTP requests still waiting for a job are cut: their jobs are abandoned.
            if (_web is not null) await _web.StopAsync(TimeSpan.Zero).ConfigureAwait(false);
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);

            // The host has stopped them (or is stopping them, if a signal stopped the host directly): wait until they are done.
            await StopSchedulerAndStoreAsync(_app.Services).ConfigureAwait(false);
            mine.SetResult();
        }
        catch (Exception ex)
        {
            mine.SetException(ex);
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_web is not null) await _web.DisposeAsync().ConfigureAwait(false);
        await DisposeHostAsync(_app).ConfigureAwait(false);
    }

    /// <summary>
    /// The drain window (<c>--shutdown-timeout</c>): stop taking connections and HTTP requests, then wait until no job is
    /// assigned to a worker (workers stay connected and can send results), for at most <paramref name="window"/>.
    /// </summary>
    private async Task DrainAsync(TimeSpan window)
    {
        var logger = _app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gearman.Server");
        _drainGate.Close();
        if (_app.Services.GetService<EpollTransport>() is { } epoll) await epoll.StopAcceptingAsync().ConfigureAwait(false);
        if (_app.Services.GetService<TlsListener>() is { } tls) await tls.StopAcceptingAsync().ConfigureAwait(false);
        var time = _scheduler.Time;
        var deadline = time.GetUtcNow() + window;
        var httpStopped = _web?.StopHttpAsync(window) ?? Task.CompletedTask;
        try
        {
            int running;
            while ((running = await _scheduler.AskAsync(static s => s.RunningJobCount).ConfigureAwait(false)) > 0)
            {
                if (time.GetUtcNow() >= deadline)
                {
                    ServerLog.DrainTimedOut(logger, running, window.TotalSeconds);
                    break;
                }

                // No event marks "the last running job ended"; a short poll of the scheduler is cheap during a stop.
                await Task.Delay(DrainPollInterval, time).ConfigureAwait(false);
            }
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            // The scheduler is already stopping.
        }

        await httpStopped.ConfigureAwait(false);
    }

    /// <summary>Stops the scheduler, then the store writer (which applies what is queued); each stops once, whoever asks first.</summary>
    private static async Task StopSchedulerAndStoreAsync(IServiceProvider services)
    {
        await services.GetRequiredService<SchedulerService>().StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (services.GetService<JobStoreWriterService>() is { } storeWriter) await storeWriter.StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs socket and pipe continuations inline: a request is read, processed by the scheduler and answered on the
    /// thread that received it, instead of hopping to the thread pool at each of those steps. Safe here because nothing on
    /// that path blocks (the scheduler never waits, and outboxes flush without waiting for the peer). And reads go
    /// straight into a buffer instead of first waiting for data with a zero-byte read: one receive call less per request,
    /// for a pooled block (<see cref="ReceiveBlockPool.BlockSize"/>) held by each idle connection.
    /// </summary>
    private static void ConfigureKestrel(
        WebApplicationBuilder builder,
        GearmanServerOptions options,
        DrainGate drainGate,
        ServerCertificates? certificates,
        List<(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions Listen, bool Tls)> listeners)
    {
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>>(new ReceiveBlockPool());
        builder.WebHost.UseSockets(sockets =>
        {
            ConfigureSockets(sockets);
            sockets.Backlog = options.Backlog ?? ListenSocketOptions.DefaultBacklog;
            sockets.CreateBoundListenSocket = endPoint =>
            {
                var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endPoint);
                ListenSocketOptions.Apply(socket, options);
                return socket;
            };
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            void Serve(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions l, bool tls)
            {
                listeners.Add((l, tls));
                l.Use(drainGate.Guard); // before the handshake: a draining server refuses new connections at once
                if (tls)
                {
                    var services = l.ApplicationServices;
                    l.Use(KestrelTls.Middleware(
                        certificates!,
                        services.GetRequiredService<ILoggerFactory>().CreateLogger("Gearman.Server.Security"),
                        services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping));
                }

                l.UseConnectionHandler<GearmanConnectionHandler>();
            }

            bool mainIsTls = certificates is not null;
            if (options.ListenAddress is null)
            {
                kestrel.ListenAnyIP(options.Port, l => Serve(l, mainIsTls));
            }
            else
            {
                foreach (var address in ResolveListenAddresses(options.ListenAddress))
                {
                    kestrel.Listen(address, options.Port, l => Serve(l, mainIsTls));
                }
            }

            if (options.Tls is { PlaintextPort: { } plainPort } tls)
            {
                foreach (var address in ResolveListenAddresses(tls.PlaintextListenAddress))
                {
                    kestrel.Listen(address, plainPort, l => Serve(l, tls: false));
                }
            }
        });
    }

    /// <summary>
    /// The epoll transport: plaintext on epoll; with TLS the main listeners are <see cref="TlsListener"/>'s (served as
    /// streams through <see cref="GearmanConnectionHandler"/>), and epoll serves only the optional plaintext listener.
    /// </summary>
    private static void AddEpollTransport(HostApplicationBuilder builder, GearmanServerOptions options, ServerCertificates? certificates)
    {
        var plaintext = options;
        if (options.Tls is { } tls)
        {
            builder.Services.AddSingleton<GearmanConnectionHandler>();
            builder.Services.AddSingleton(sp => new TlsListener(
                [.. ListenSockets.Addresses(options.ListenAddress).Select(a => new IPEndPoint(a, options.Port))],
                options,
                certificates!,
                sp.GetRequiredService<GearmanConnectionHandler>(),
                sp.GetRequiredService<ILoggerFactory>(),
                ShutdownTimeout));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<TlsListener>());
            if (tls.PlaintextPort is not { } plainPort) return;
            plaintext = options with { Port = plainPort, ListenAddress = tls.PlaintextListenAddress };
        }

        builder.Services.AddSingleton(sp => new EpollTransport(sp.GetRequiredService<JobScheduler>(), plaintext, sp.GetRequiredService<ILoggerFactory>(), ShutdownTimeout));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EpollTransport>());
    }

    /// <summary>The main listeners' bound addresses (TLS ones when TLS is on), and the plaintext listener's when TLS is on.</summary>
    private static (IReadOnlyList<IPEndPoint> Main, IReadOnlyList<IPEndPoint> Plaintext) BoundEndPoints(
        IHost app, List<(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions Listen, bool Tls)> kestrelListeners)
    {
        var epoll = app.Services.GetService<EpollTransport>();
        if (app.Services.GetService<TlsListener>() is { } tlsListener) return (tlsListener.EndPoints, epoll?.EndPoints ?? []);
        if (epoll is not null) return (epoll.EndPoints, []);
        if (kestrelListeners.Count == 0 || !kestrelListeners.Any(l => l.Tls))
        {
            return ([.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(ParseBoundEndPoint)], []);
        }

        // Kestrel updates each ListenOptions with the port it bound.
        return ([.. kestrelListeners.Where(l => l.Tls).Select(l => l.Listen.IPEndPoint!)], [.. kestrelListeners.Where(l => !l.Tls).Select(l => l.Listen.IPEndPoint!)]);
    }

    private static async ValueTask DisposeHostAsync(IHost host)
    {
        if (host is IAsyncDisposable asyncDisposable) await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        else host.Dispose();
    }

    private static void ConfigureSockets(SocketTransportOptions sockets)
    {
        sockets.UnsafePreferInlineScheduling = true;
        sockets.WaitForDataBeforeAllocatingBuffer = false;
    }

    /// <summary>The addresses <c>--listen</c> names: an IP address, <c>localhost</c> (loopback) or a host name.</summary>
    internal static IEnumerable<IPAddress> ResolveListenAddresses(string listen)
    {
        if (IPAddress.TryParse(listen, out var address)) return [address];
        if (string.Equals(listen, "localhost", StringComparison.OrdinalIgnoreCase)) return [IPAddress.Loopback];
        return Dns.GetHostAddresses(listen);
    }

    internal static IPEndPoint ParseBoundEndPoint(string address)
    {
        // Kestrel reports "http://127.0.0.1:4730" or "http://[::]:4730" even for raw TCP listeners.
        var uri = new Uri(address.Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute);
        var host = uri.Host.Trim('[', ']');
        var ip = IPAddress.TryParse(host, out var parsed) ? parsed : IPAddress.Loopback;
        return new IPEndPoint(ip, uri.Port);
    }
}
