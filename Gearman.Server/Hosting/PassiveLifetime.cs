using Microsoft.Extensions.Hosting;

namespace Gearman.Server.Hosting;

/// <summary>
/// The lifetime of the HTTP ports' hosts: no signal handling of their own, so that they start and stop only with the
/// job server (<see cref="GearmanServer.StopAsync"/>), after its drain.
/// </summary>
internal sealed class PassiveLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
