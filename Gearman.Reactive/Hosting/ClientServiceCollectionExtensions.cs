using Gearman.Reactive.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gearman.Reactive.Hosting;

/// <summary>Registers a <see cref="GearmanClient"/> in a service collection.</summary>
public static class ClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers one shared <see cref="GearmanClient"/> (and its <see cref="GearmanClientOptions"/>) as singletons.
    /// The options start from <see cref="GearmanClientOptions.Default"/> with the container's <see cref="ILoggerFactory"/>;
    /// <paramref name="configure"/> derives the final options with <c>with</c>. The container disposes the client
    /// (dispose the provider with <c>DisposeAsync</c>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Adjusts the options, for example <c>o =&gt; o with { Servers = ["gearman:4730"] }</c>.</param>
    public static IServiceCollection AddGearmanClient(
        this IServiceCollection services,
        Func<GearmanClientOptions, GearmanClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(provider =>
        {
            var options = GearmanClientOptions.Default with
            {
                LoggerFactory = provider.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
                TimeProvider = provider.GetService<TimeProvider>() ?? TimeProvider.System,
            };
            return configure is null ? options : configure(options);
        });
        services.AddSingleton(provider => new GearmanClient(provider.GetRequiredService<GearmanClientOptions>()));
        return services;
    }
}
