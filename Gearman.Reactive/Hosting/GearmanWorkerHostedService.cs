using Gearman.Reactive.Worker;
using Microsoft.Extensions.Hosting;

namespace Gearman.Reactive.Hosting;

/// <summary>Runs one <see cref="GearmanWorker"/> for the lifetime of the host.</summary>
internal sealed class GearmanWorkerHostedService : IHostedService, IAsyncDisposable
{
    public GearmanWorkerHostedService(
        IServiceProvider services,
        Func<GearmanWorkerOptions, GearmanWorkerOptions> configureOptions,
        Action<IServiceProvider, GearmanWorker> configureFunctions)
    {
        var options = configureOptions(GearmanOptionsDefaults.Worker(services))
            ?? throw new InvalidOperationException("configureOptions returned null.");
        Worker = new GearmanWorker(options);
        configureFunctions(services, Worker);
    }

    /// <summary>Runs a worker the container owns (the one resolvable as <see cref="GearmanWorker"/>).</summary>
    public GearmanWorkerHostedService(GearmanWorker worker)
    {
        Worker = worker;
    }

    /// <summary>The worker this service runs.</summary>
    public GearmanWorker Worker { get; }

    public Task StartAsync(CancellationToken cancellationToken) => Worker.StartAsync(cancellationToken).AsTask();

    /// <remarks>The host's token ends the graceful wait early, as <see cref="GearmanWorkerOptions.ShutdownTimeout"/> does.</remarks>
    public Task StopAsync(CancellationToken cancellationToken) => Worker.StopAsync(cancellationToken).AsTask();

    public ValueTask DisposeAsync() => Worker.DisposeAsync();
}
