using Gearman.Reactive.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Gearman.Reactive.Hosting;

/// <summary>Registers Gearman workers that run inside the generic host.</summary>
public static class WorkerServiceCollectionExtensions
{
    /// <summary>
    /// Adds a <see cref="GearmanWorker"/> that the host starts and stops: it starts grabbing when the host starts, and
    /// on shutdown it stops grabbing and lets its jobs finish, within <see cref="GearmanWorkerOptions.ShutdownTimeout"/>
    /// and the host's own shutdown timeout. Each call adds one more worker.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configureOptions">
    /// Returns the worker's options from a default whose <see cref="GearmanWorkerOptions.LoggerFactory"/> is the
    /// container's <c>ILoggerFactory</c>, for example <c>o =&gt; o with { Servers = ["jobs:4730"] }</c>.
    /// </param>
    /// <param name="configureFunctions">
    /// Registers the worker's functions (<c>AddFunction</c> or <c>Jobs</c>); it receives the root service provider, from
    /// which handlers can resolve what they need (create a scope per job for scoped services).
    /// </param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddGearmanWorker(
        this IServiceCollection services,
        Func<GearmanWorkerOptions, GearmanWorkerOptions> configureOptions,
        Action<IServiceProvider, GearmanWorker> configureFunctions)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configureOptions);
        ArgumentNullException.ThrowIfNull(configureFunctions);

        // Not AddHostedService: it de-duplicates by type, and every call here must add a worker.
        services.AddSingleton<IHostedService>(provider => new GearmanWorkerHostedService(provider, configureOptions, configureFunctions));
        return services;
    }
}
