using Gearman.Reactive.Client;

namespace Gearman.Reactive.Hosting;

/// <summary>
/// Gives the named clients registered with
/// <see cref="ClientServiceCollectionExtensions.AddGearmanClient(Microsoft.Extensions.DependencyInjection.IServiceCollection, string, Microsoft.Extensions.Configuration.IConfiguration)"/>
/// and its overloads. Each name has one shared client, created on first use and disposed with the container. The
/// same clients are also registered as keyed services (<c>[FromKeyedServices("name")] IGearmanClient</c>).
/// </summary>
public interface IGearmanClientFactory
{
    /// <summary>The client registered under <paramref name="name"/> (the same instance on every call).</summary>
    /// <param name="name">The name given at registration; <see cref="Microsoft.Extensions.Options.Options.DefaultName"/> (empty) for the unnamed client.</param>
    /// <returns>The shared client.</returns>
    /// <exception cref="InvalidOperationException">No client is registered under <paramref name="name"/>.</exception>
    GearmanClient GetClient(string name);
}
