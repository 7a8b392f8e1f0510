using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Hosting;

/// <summary>
/// One HTTP port of the server (gearmand's HTTP job protocol, or the monitoring port): a slim ASP.NET Core application
/// on Kestrel, bound like the Gearman port (<c>--listen</c>), started and stopped with the server.
/// </summary>
internal sealed class WebListener : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebListener(WebApplication app, IPEndPoint endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    /// <summary>Where it listens (the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The application's services.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Builds the application, lets the caller add services and endpoints, and starts listening.</summary>
    /// <param name="listenAddress">As <see cref="GearmanServerOptions.ListenAddress"/>: null binds every address.</param>
    /// <param name="port">The TCP port; 0 picks a free one.</param>
    /// <param name="loggerFactory">The server's loggers (the application logs through them).</param>
    /// <param name="configureServices">Adds services and Kestrel limits.</param>
    /// <param name="configureApp">Maps the endpoints.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<WebListener> StartAsync(
        string? listenAddress,
        int port,
        ILoggerFactory loggerFactory,
        Action<WebApplicationBuilder> configureServices,
        Action<WebApplication> configureApp,
        CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, PassiveLifetime>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            if (listenAddress is null)
            {
                kestrel.ListenAnyIP(port);
            }
            else
            {
                foreach (var address in GearmanServer.ResolveListenAddresses(listenAddress)) kestrel.Listen(address, port);
            }
        });
        configureServices(builder);
        var app = builder.Build();
        configureApp(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return new WebListener(app, GearmanServer.ParseBoundEndPoint(addresses.First()));
    }

    /// <summary>Stops accepting, lets requests in flight end within <paramref name="timeout"/>, then closes.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _app.StopAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);
}
