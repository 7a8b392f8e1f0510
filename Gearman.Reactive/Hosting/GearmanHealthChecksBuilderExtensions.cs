using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gearman.Reactive.Hosting;

/// <summary>Registers the Gearman health check.</summary>
public static class GearmanHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds one check of Gearman connectivity: each job server of the container's <see cref="Client.GearmanClient"/>
    /// and of every worker added with <c>AddGearmanWorker</c> gets an <c>ECHO_REQ</c> on a connection of its own (as
    /// <c>gearman --ping</c>), concurrently. Healthy when all echo, <see cref="HealthStatus.Degraded"/> when some do,
    /// <paramref name="failureStatus"/> when none do (or nothing Gearman is registered). The result's data lists each
    /// server with its round-trip time or error.
    /// </summary>
    /// <param name="builder">The health checks builder, from <c>services.AddHealthChecks()</c>.</param>
    /// <param name="name">The check's name. Default: <c>gearman</c>.</param>
    /// <param name="failureStatus">The status when no server answers. Default: <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example <c>["ready"]</c>).</param>
    /// <param name="timeout">Bound on the whole check; each round trip is also bounded by the connect timeout. Default: none.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static IHealthChecksBuilder AddGearman(
        this IHealthChecksBuilder builder,
        string name = "gearman",
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return builder.Add(new HealthCheckRegistration(name, services => new GearmanHealthCheck(services), failureStatus, tags, timeout));
    }
}
