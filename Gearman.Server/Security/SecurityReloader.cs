using System.Runtime.InteropServices;
using Gearman.Server.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Security;

/// <summary>
/// Reloads the TLS certificates and the access rules on SIGHUP and when one of their files changes, without touching
/// open connections: they keep the certificate they shook hands with, and the new rules apply to their next request.
/// A file that fails to load is logged and the old set stays in force.
/// </summary>
internal sealed class SecurityReloader : IHostedService, IDisposable
{
    /// <summary>File events come in bursts (truncate, write, rename); one reload follows the last of them.</summary>
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(300);

    private readonly ServerCertificates? _certificates;
    private readonly AccessControl? _access;
    private readonly ILogger _logger;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Lock _lock = new();
    private readonly ITimer _timer;
    private PosixSignalRegistration? _hangUp;
    private int _reloads;

    public SecurityReloader(ServerCertificates? certificates, AccessControl? access, ILoggerFactory loggers, TimeProvider? time = null)
    {
        _certificates = certificates;
        _access = access;
        _logger = loggers.CreateLogger("Gearman.Server.Security");
        _timer = (time ?? TimeProvider.System).CreateTimer(static s => ((SecurityReloader)s!).Reload(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Raised after every reload attempt, with its number (1, 2, …); for tests.</summary>
    public event Action<int>? Reloaded;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_certificates is { } certificates) ServerLog.TlsCertificateLoaded(_logger, certificates.Certificate.Subject, certificates.Certificate.NotAfter.ToUniversalTime());
        if (_access is { } access) ServerLog.AccessRulesLoaded(_logger, access.Path, access.Rules.Count);
        var files = new List<string>();
        if (_certificates?.Options is { } tls)
        {
            files.Add(tls.CertificateFile);
            if (tls.KeyFile is not null) files.Add(tls.KeyFile);
            if (tls.CaFile is not null) files.Add(tls.CaFile);
        }

        if (_access is not null) files.Add(_access.Path);
        foreach (var directory in files.Select(f => Path.GetDirectoryName(Path.GetFullPath(f))!).Distinct(StringComparer.Ordinal))
        {
            var names = files.Where(f => Path.GetDirectoryName(Path.GetFullPath(f)) == directory).Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
            var watcher = new FileSystemWatcher(directory) { NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime };
            FileSystemEventHandler changed = (_, e) =>
            {
                if (names.Contains(e.Name)) ScheduleReload();
            };
            watcher.Changed += changed;
            watcher.Created += changed;
            watcher.Renamed += (_, e) =>
            {
                if (names.Contains(e.Name)) ScheduleReload();
            };
            try
            {
                watcher.EnableRaisingEvents = true;
                _watchers.Add(watcher);
            }
            catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
            {
                // Out of inotify instances, say: SIGHUP still reloads.
                watcher.Dispose();
                ServerLog.TlsWatchFailed(_logger, directory, ex.Message);
            }
        }

        if (!OperatingSystem.IsWindows())
        {
            if (HangUpSignal.UnignoreIfIgnored()) ServerLog.HangUpUnignored(_logger);
            _hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true; // SIGHUP reloads; it must not end the process
                ScheduleReload(TimeSpan.Zero);
            });
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _hangUp?.Dispose();
        _hangUp = null;
        foreach (var watcher in _watchers) watcher.Dispose();
        _watchers.Clear();
        _timer.Dispose();
    }

    /// <summary>Reloads now: certificates first, then rules; each keeps its old set if its files fail to load.</summary>
    public void Reload()
    {
        int number;
        lock (_lock)
        {
            if (_certificates is { } certificates)
            {
                try
                {
                    certificates.Reload();
                    ServerLog.TlsCertificateLoaded(_logger, certificates.Certificate.Subject, certificates.Certificate.NotAfter.ToUniversalTime());
                }
                catch (TlsConfigurationException ex)
                {
                    ServerLog.TlsReloadFailed(_logger, ex.Message);
                }
            }

            if (_access is { } access)
            {
                try
                {
                    access.Reload();
                    ServerLog.AccessRulesLoaded(_logger, access.Path, access.Rules.Count);
                }
                catch (TlsConfigurationException ex)
                {
                    ServerLog.AccessRulesReloadFailed(_logger, ex.Message);
                }
            }

            number = ++_reloads;
        }

        Reloaded?.Invoke(number);
    }

    private void ScheduleReload(TimeSpan? delay = null)
    {
        try
        {
            _timer.Change(delay ?? Debounce, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
