using System.Globalization;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Gearman.Reactive.Hosting;

/// <summary>
/// Pings (ECHO round trip) the servers of the container's clients (the unnamed one and every named one) and of every
/// hosted worker. Healthy when every server answered, degraded when some did, and the registration's failure status
/// when none did.
/// </summary>
internal sealed class GearmanHealthCheck(IServiceProvider services) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var probes = new List<(string Role, Task<IReadOnlyList<GearmanPingResult>> Ping)>();
        if (services.GetService<GearmanClientNames>() is { } names && services.GetService<IGearmanClientFactory>() is { } factory)
        {
            foreach (string name in names.All())
            {
                var client = factory.GetClient(name);
                probes.Add((name.Length == 0 ? "client" : $"client:{name}", client.PingAsync(cancellationToken).AsTask()));
            }
        }
        else if (services.GetService<GearmanClient>() is { } client)
        {
            probes.Add(("client", client.PingAsync(cancellationToken).AsTask()));
        }

        int workers = 0;
        foreach (var hosted in services.GetServices<IHostedService>().OfType<GearmanWorkerHostedService>())
        {
            GearmanWorker worker = hosted.Worker;
            probes.Add((workers++ == 0 ? "worker" : $"worker{workers}", worker.PingAsync(cancellationToken).AsTask()));
        }

        if (probes.Count == 0) return new HealthCheckResult(context.Registration.FailureStatus, "No Gearman client or hosted worker is registered.");

        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        int ok = 0, failed = 0;
        Exception? firstError = null;
        foreach (var (role, ping) in probes)
        {
            foreach (var result in await ping.ConfigureAwait(false))
            {
                string key = $"{role} {result.Server}";
                if (result.Succeeded)
                {
                    ok++;
                    data[key] = string.Create(CultureInfo.InvariantCulture, $"{result.RoundTrip.TotalMilliseconds:0.###} ms");
                }
                else
                {
                    failed++;
                    firstError ??= result.Error;
                    data[key] = result.Error!.Message;
                }
            }
        }

        if (failed == 0) return HealthCheckResult.Healthy($"{ok} job server(s) echoed.", data);
        var status = ok == 0 ? context.Registration.FailureStatus : HealthStatus.Degraded;
        return new HealthCheckResult(status, $"{failed} of {ok + failed} job server(s) did not echo.", firstError, data);
    }
}
