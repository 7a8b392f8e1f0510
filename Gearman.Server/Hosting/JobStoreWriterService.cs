using Gearman.Server.Persistence;
using Gearman.Server.Scheduling;
using Microsoft.Extensions.Hosting;

namespace Gearman.Server.Hosting;

/// <summary>
/// Runs the <see cref="JobStoreWriter"/> loop as a hosted service. It is registered before the
/// <see cref="SchedulerService"/>, so the host stops it after the scheduler: every write the scheduler queued is applied
/// (bounded) before the store is closed.
/// </summary>
internal sealed class JobStoreWriterService(JobStoreWriter writer, JobScheduler scheduler) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _stopLock = new();
    private Task? _loop;
    private Task? _stopping;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => writer.RunAsync(ack => scheduler.PostAndDrainAsync(ServerCommand.ForStoreAck(ack)), _abort.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Lets the writer apply what is queued (bounded), then closes the store; once, whoever asks first.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_stopLock) return _stopping ??= StopCoreAsync();
    }

    /// <inheritdoc />
    public void Dispose() => _abort.Dispose();

    private async Task StopCoreAsync()
    {
        writer.Complete();
        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await _abort.CancelAsync().ConfigureAwait(false);
                try
                {
                    await _loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
                {
                }
            }
            catch (Exception)
            {
                // Cancelled, or the writer failed outside a store call (a bug): not worth failing the shutdown for.
            }
        }

        await writer.Store.DisposeAsync().ConfigureAwait(false);
    }
}
