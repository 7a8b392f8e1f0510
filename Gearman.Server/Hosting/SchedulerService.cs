using Gearman.Server.Scheduling;
using Microsoft.Extensions.Hosting;

namespace Gearman.Server.Hosting;

/// <summary>
/// Runs the <see cref="JobScheduler"/> loop as a hosted service. It is registered before the transports (and Kestrel's
/// host service is always added last), so the host starts it before anything can connect and stops it only after the
/// transports have drained.
/// </summary>
internal sealed class SchedulerService(JobScheduler scheduler) : IHostedService, IDisposable
{
    /// <summary>How long a stop waits for the loop to finish the commands already queued before cancelling it.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _stopLock = new();
    private Task? _loop;
    private Task? _stopping;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => scheduler.RunAsync(_abort.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Lets the loop finish what is queued (at most <see cref="StopTimeout"/>, then cancels it), once, whoever asks first;
    /// the host's shutdown token is not used, as the bound is this service's own.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_stopLock) return _stopping ??= StopCoreAsync();
    }

    /// <inheritdoc />
    public void Dispose() => _abort.Dispose();

    private async Task StopCoreAsync()
    {
        scheduler.Complete();
        if (_loop is null) return;
        try
        {
            await _loop.WaitAsync(StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
