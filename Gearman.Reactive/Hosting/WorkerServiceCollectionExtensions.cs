using System.Diagnostics.CodeAnalysis;
using Gearman.Reactive.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

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
    /// Returns the worker's options from a default whose <see cref="GearmanWorkerOptions.LoggerFactory"/> and
    /// <see cref="GearmanWorkerOptions.TimeProvider"/> are the container's (when it has them), for example <c>o =&gt; o with { Servers = ["jobs:4730"] }</c>.
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

    /// <summary>
    /// Adds the container's <see cref="GearmanWorker"/>: a singleton resolvable as <see cref="GearmanWorker"/> (for
    /// example to ping it from a health check), with options bound from <paramref name="configuration"/> through
    /// <see cref="IOptions{TOptions}"/>, and run by the host as with the other overload. A <c>Servers</c> list in
    /// configuration replaces the default one.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">A section whose keys are <see cref="GearmanWorkerOptions"/> property names, for example <c>configuration.GetSection("Gearman:Worker")</c>.</param>
    /// <param name="configureFunctions">Registers the worker's functions; it receives the root service provider.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="InvalidOperationException">The container's worker is already registered.</exception>
    [RequiresUnreferencedCode(GearmanConfigurationBinder.TrimmingMessage)]
    [RequiresDynamicCode(GearmanConfigurationBinder.TrimmingMessage)]
    public static IServiceCollection AddGearmanWorker(
        this IServiceCollection services,
        IConfiguration configuration,
        Action<IServiceProvider, GearmanWorker> configureFunctions)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configureFunctions);
        if (services.Any(d => d.ServiceType == typeof(GearmanWorker) && !d.IsKeyedService))
        {
            throw new InvalidOperationException("The container's GearmanWorker is already registered; add further workers with AddGearmanWorker(configureOptions, configureFunctions).");
        }

        GearmanOptionsDefaults.AddOptions<GearmanWorkerOptions>(services, Options.DefaultName, GearmanOptionsDefaults.Worker, options => GearmanConfigurationBinder.Bind(configuration, options));
        services.AddSingleton(provider =>
        {
            var worker = new GearmanWorker(provider.GetRequiredService<IOptionsMonitor<GearmanWorkerOptions>>().Get(Options.DefaultName));
            configureFunctions(provider, worker);
            return worker;
        });
        services.AddSingleton<IHostedService>(provider => new GearmanWorkerHostedService(provider.GetRequiredService<GearmanWorker>()));
        return services;
    }
}
