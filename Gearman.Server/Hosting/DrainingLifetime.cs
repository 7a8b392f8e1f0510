using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;

namespace Gearman.Server.Hosting;

/// <summary>
/// The host lifetime when <c>--shutdown-timeout</c> is set: SIGINT, SIGTERM and SIGQUIT start <see cref="GearmanServer.StopAsync"/>
/// (drain first, then stop) instead of stopping the host at once, as the default console lifetime would.
/// </summary>
internal sealed class DrainingLifetime : IHostLifetime, IDisposable
{
    private readonly List<PosixSignalRegistration> _signals = [];

    /// <summary>What a signal starts (set once the server exists).</summary>
    public Func<Task>? Stop { get; set; }

    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT })
        {
            _signals.Add(PosixSignalRegistration.Create(signal, OnSignal));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var signal in _signals) signal.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _ = Stop?.Invoke();
    }
}
