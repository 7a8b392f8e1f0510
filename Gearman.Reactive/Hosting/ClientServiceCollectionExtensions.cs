using System.Diagnostics.CodeAnalysis;
using Gearman.Reactive.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gearman.Reactive.Hosting;

/// <summary>Registers <see cref="GearmanClient"/>s in a service collection.</summary>
/// <remarks>
/// <para>The options go through <see cref="IOptions{TOptions}"/>: they start from <see cref="GearmanClientOptions.Default"/>
/// with the container's <see cref="ILoggerFactory"/> and <see cref="TimeProvider"/>, then every registration for the
/// same name applies its configuration section or <c>with</c> delegate in order. A <c>Servers</c> list in configuration
/// replaces the default <c>localhost:4730</c> rather than adding to it.</para>
/// <para>Registrations use <c>TryAdd</c>: calling again for a name adds its configuration to the same client. Each name
/// has one shared client, given by <see cref="IGearmanClientFactory"/> and as a keyed <see cref="GearmanClient"/> and
/// <see cref="IGearmanClient"/>; the unnamed one also as plain <see cref="GearmanClient"/>, <see cref="IGearmanClient"/>
/// and <see cref="GearmanClientOptions"/>. The container disposes the clients (dispose it with <c>DisposeAsync</c>).</para>
/// </remarks>
public static class ClientServiceCollectionExtensions
{
    /// <summary>Registers the shared unnamed <see cref="GearmanClient"/> with the default options (and any added by other registrations).</summary>
    /// <param name="services">The service collection.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddGearmanClient(this IServiceCollection services)
        => AddClient(services, Options.DefaultName, null);

    /// <summary>
    /// Registers the shared unnamed <see cref="GearmanClient"/>; <paramref name="configure"/> derives its options with
    /// <c>with</c>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Adjusts the options, for example <c>o =&gt; o with { Servers = ["gearman:4730"] }</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddGearmanClient(this IServiceCollection services, Func<GearmanClientOptions, GearmanClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddClient(services, Options.DefaultName, configure);
    }

    /// <summary>Registers the shared unnamed <see cref="GearmanClient"/> with options bound from <paramref name="configuration"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">A section whose keys are <see cref="GearmanClientOptions"/> property names, for example <c>configuration.GetSection("Gearman")</c>; an unknown key throws when the options are built.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    [RequiresUnreferencedCode(GearmanConfigurationBinder.TrimmingMessage)]
    [RequiresDynamicCode(GearmanConfigurationBinder.TrimmingMessage)]
    public static IServiceCollection AddGearmanClient(this IServiceCollection services, IConfiguration configuration)
        => services.AddGearmanClient(Options.DefaultName, configuration);

    /// <summary>Registers the client named <paramref name="name"/> with options bound from <paramref name="configuration"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The client's name, for <see cref="IGearmanClientFactory.GetClient"/> and as the service key.</param>
    /// <param name="configuration">A section whose keys are <see cref="GearmanClientOptions"/> property names.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    [RequiresUnreferencedCode(GearmanConfigurationBinder.TrimmingMessage)]
    [RequiresDynamicCode(GearmanConfigurationBinder.TrimmingMessage)]
    public static IServiceCollection AddGearmanClient(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AddClient(services, name, options => GearmanConfigurationBinder.Bind(configuration, options));
    }

    /// <summary>Registers the client named <paramref name="name"/>; <paramref name="configure"/> derives its options.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The client's name, for <see cref="IGearmanClientFactory.GetClient"/> and as the service key.</param>
    /// <param name="configure">Adjusts the options with <c>with</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddGearmanClient(this IServiceCollection services, string name, Func<GearmanClientOptions, GearmanClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddClient(services, name, configure);
    }

    private static IServiceCollection AddClient(IServiceCollection services, string name, Func<GearmanClientOptions, GearmanClientOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        GearmanOptionsDefaults.AddOptions(services, name, GearmanOptionsDefaults.Client, configure);

        var names = services.FirstOrDefault(d => d.ServiceType == typeof(GearmanClientNames) && !d.IsKeyedService)?.ImplementationInstance as GearmanClientNames;
        if (names is null)
        {
            names = new GearmanClientNames();
            services.AddSingleton(names);
        }

        names.Add(name);
        services.TryAddSingleton<GearmanClientFactory>();
        services.TryAddSingleton<IGearmanClientFactory>(provider => provider.GetRequiredService<GearmanClientFactory>());
        services.TryAddKeyedSingleton<GearmanClient>(name, (provider, _) => provider.GetRequiredService<IGearmanClientFactory>().GetClient(name));
        services.TryAddKeyedSingleton<IGearmanClient>(name, (provider, _) => provider.GetRequiredKeyedService<GearmanClient>(name));
        if (name == Options.DefaultName)
        {
            services.TryAddSingleton(provider => provider.GetRequiredService<IGearmanClientFactory>().GetClient(Options.DefaultName));
            services.TryAddSingleton<IGearmanClient>(provider => provider.GetRequiredService<GearmanClient>());
            services.TryAddSingleton(provider => provider.GetRequiredService<IOptionsMonitor<GearmanClientOptions>>().Get(Options.DefaultName));
        }

        return services;
    }
}
