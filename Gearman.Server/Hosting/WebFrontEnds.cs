using System.Net;
using Gearman.Server.Diagnostics;
using Gearman.Server.Http;
using Gearman.Server.Monitoring;
using Gearman.Server.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Gearman.Server.Hosting;

/// <summary>The server's HTTP ports: gearmand's HTTP job protocol (<c>--http-port</c>) and monitoring (<c>--monitor-port</c>).</summary>
internal sealed class WebFrontEnds : IAsyncDisposable
{
    private readonly WebListener? _http;
    private readonly WebListener? _monitor;
    private readonly SnapshotPublisher? _snapshots;

    private WebFrontEnds(WebListener? http, WebListener? monitor, SnapshotPublisher? snapshots)
    {
        _http = http;
        _monitor = monitor;
        _snapshots = snapshots;
    }

    public IPEndPoint? HttpEndPoint => _http?.EndPoint;

    public IPEndPoint? MonitorEndPoint => _monitor?.EndPoint;

    /// <summary>Starts the ports the options ask for (none: an instance that does nothing).</summary>
    public static async Task<WebFrontEnds> StartAsync(GearmanServerOptions options, JobScheduler scheduler, ILoggerFactory loggers, CancellationToken serverStopping, CancellationToken cancellationToken)
    {
        WebListener? http = null, monitor = null;
        SnapshotPublisher? snapshots = null;
        try
        {
            if (options.HttpPort is { } httpPort)
            {
                var gateway = new HttpJobGateway(scheduler, options, loggers.CreateLogger("Gearman.Server.Http"));
                http = await WebListener.StartAsync(
                    options.ListenAddress,
                    httpPort,
                    loggers,
                    builder => builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxPacketSize),
                    app => app.Run(gateway.HandleAsync),
                    cancellationToken).ConfigureAwait(false);
                ServerLog.Listening(loggers.CreateLogger("Gearman.Server"), "http://" + http.EndPoint);
            }

            if (options.MonitorPort is { } monitorPort)
            {
                snapshots = new SnapshotPublisher(scheduler);
                var endpoints = new MonitoringEndpoints(snapshots, scheduler, options, serverStopping);
                var published = snapshots;
                monitor = await WebListener.StartAsync(
                    options.ListenAddress,
                    monitorPort,
                    loggers,
                    builder =>
                    {
                        builder.Services.AddMetrics();
                        builder.Services.AddSingleton(sp => new FunctionGauges(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), published));
                        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
                            .AddMeter(ServerMetrics.MeterName, FunctionGauges.MeterName, "System.Runtime")
                            .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));
                    },
                    app =>
                    {
                        _ = app.Services.GetRequiredService<FunctionGauges>();

                        // A scrape sees the scheduler as it is now: the function gauges read the snapshot taken here.
                        app.UseWhen(c => c.Request.Path == "/metrics", branch => branch.Use(async (context, next) =>
                        {
                            await published.TakeAsync(context.RequestAborted).ConfigureAwait(false);
                            await next(context).ConfigureAwait(false);
                        }));
                        app.MapPrometheusScrapingEndpoint("/metrics");
                        endpoints.Map(app);
                    },
                    cancellationToken).ConfigureAwait(false);
                ServerLog.Listening(loggers.CreateLogger("Gearman.Server"), "http://" + monitor.EndPoint + " (monitoring)");
            }

            return new WebFrontEnds(http, monitor, snapshots);
        }
        catch
        {
            await new WebFrontEnds(http, monitor, snapshots).DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops the HTTP job port only; requests in flight get <paramref name="timeout"/> to end.</summary>
    public Task StopHttpAsync(TimeSpan timeout) => _http?.StopAsync(timeout) ?? Task.CompletedTask;

    /// <summary>Stops accepting HTTP requests; requests in flight get <paramref name="timeout"/> to end.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (_http is not null) await _http.StopAsync(timeout).ConfigureAwait(false);
        if (_monitor is not null) await _monitor.StopAsync(timeout).ConfigureAwait(false);
        if (_snapshots is not null) await _snapshots.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        if (_http is not null) await _http.DisposeAsync().ConfigureAwait(false);
        if (_monitor is not null) await _monitor.DisposeAsync().ConfigureAwait(false);
    }
}
