using Microsoft.Extensions.Logging;

namespace Gearman.Reactive;

/// <summary>
/// The connection settings that <see cref="Client.GearmanClientOptions"/> and <see cref="Worker.GearmanWorkerOptions"/>
/// share, with the same names, the same defaults and the same reconnect back-off (doubling from
/// <see cref="ReconnectDelay"/> up to <see cref="MaxReconnectDelay"/>, each pause jittered by ±20 %). Code that only
/// needs to reach the servers (health checks, pings, configuration) takes this interface.
/// </summary>
public interface IGearmanConnectionOptions
{
    /// <summary>The job servers as <c>host[:port]</c> (port 4730 when omitted). Default: <c>["localhost:4730"]</c>.</summary>
    IReadOnlyList<string> Servers { get; }

    /// <summary>Sent with <c>SET_CLIENT_ID</c> on every connection; null sends none. Default: null.</summary>
    string? ClientId { get; }

    /// <summary>Bound on one TCP connect. Default: 5 seconds.</summary>
    TimeSpan ConnectTimeout { get; }

    /// <summary>The first reconnect pause after a failure. Default: 100 milliseconds.</summary>
    TimeSpan ReconnectDelay { get; }

    /// <summary>The longest reconnect pause. Default: 10 seconds.</summary>
    TimeSpan MaxReconnectDelay { get; }

    /// <summary>The largest packet accepted from a server, in bytes. Default: 16 MiB.</summary>
    int MaxPacketSize { get; }

    /// <summary>Where to log. Default: no logging.</summary>
    ILoggerFactory LoggerFactory { get; }

    /// <summary>The clock for timeouts and back-off. Default: <see cref="TimeProvider.System"/>.</summary>
    TimeProvider TimeProvider { get; }

    /// <summary>TLS for every server; null connects in plaintext. Default: null.</summary>
    GearmanTlsOptions? Tls { get; }

    /// <summary>TLS per server entry (as written in <see cref="Servers"/>), overriding <see cref="Tls"/>; a null value is plaintext. Default: null.</summary>
    IReadOnlyDictionary<string, GearmanTlsOptions?>? ServerTls { get; }
}
