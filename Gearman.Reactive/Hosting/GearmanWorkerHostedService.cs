using Gearman.Reactive.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gearman.Reactive.Hosting;

/// <summary>Runs one <see cref="GearmanWorker"/> for the lifetime of the host.</summary>
internal sealed class GearmanWorkerHostedService : IHostedService, IAsyncDisposable
{
    public GearmanWorkerHostedService(
        IServiceProvider services,
        Func<GearmanWorkerOptions, GearmanWorkerOptions> configureOptions,
        Action<IServiceProvider, GearmanWorker> configureFunctions)
    {
        var loggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var options = configureOptions(GearmanWorkerOptions.Default with { LoggerFactory = loggerFactory })
            ?? throw new InvalidOperationException("configureOptions returned null.");
        Worker = new GearmanWorker(options);
        configureFunctions(services, Worker);
    }

    /// <summary>The worker this service runs.</summary>
    public GearmanWorker Worker { get; }

    public Task StartAsync(CancellationToken cancellationToken) => Worker.StartAsync(cancellationToken).AsTask();

    /// <remarks>The host's token ends the graceful wait early, as <see cref="GearmanWorkerOptions.ShutdownTimeout"/> does.</remarks>
    public Task StopAsync(CancellationToken cancellationToken) => Worker.StopAsync(cancellationToken).AsTask();

    public ValueTask DisposeAsync() => Worker.DisposeAsync();
}
