using Gearman.Reactive.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gearman.Reactive.Client;

/// <summary>Settings of a <see cref="GearmanClient"/>. Immutable: derive variants with <c>with</c>.</summary>
public sealed record GearmanClientOptions : IGearmanConnectionOptions
{
    /// <summary>The defaults: one job server at <c>localhost:4730</c>.</summary>
    public static GearmanClientOptions Default { get; } = new();

    /// <summary>
    /// Job servers as <c>host[:port]</c> (port 4730 when omitted). Default: <c>localhost:4730</c>. A job with a
    /// unique ID goes to the server the ID hashes to (rendezvous hashing over these strings, so every client must list a
    /// server the same way for coalescing to work across servers); other jobs are spread round-robin. At most 64.
    /// </summary>
    public IReadOnlyList<string> Servers { get; init; } = ["localhost:4730"];

    /// <summary>
    /// TLS to every server in <see cref="Servers"/> (see <see cref="GearmanTlsOptions"/>); null (the default) connects in
    /// plaintext. <see cref="ServerTls"/> overrides it per server.
    /// </summary>
    public GearmanTlsOptions? Tls { get; init; }

    /// <summary>
    /// TLS per server, keyed by a server entry as written in <see cref="Servers"/> (<c>host[:port]</c>); a null value
    /// connects to that server in plaintext. Servers it does not list use <see cref="Tls"/>. Default: null.
    /// </summary>
    public IReadOnlyDictionary<string, GearmanTlsOptions?>? ServerTls { get; init; }

    /// <summary>How long one TCP connect may take. Default: 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the server may take to answer a request it answers at once (a submit's <c>JOB_CREATED</c>,
    /// <c>GET_STATUS</c>, <c>OPTION_REQ</c>). A connection whose oldest request is older than this is considered dead:
    /// it is closed, unacknowledged submits move to another server and running jobs on it fail.
    /// Default: 30 seconds; <see cref="Timeout.InfiniteTimeSpan"/> disables the check.
    /// </summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a server that could not be reached (or whose connection was lost) is skipped before the next connect
    /// attempt. Doubles after each consecutive failure up to <see cref="MaxReconnectDelay"/>; reset by a successful
    /// connect; each pause is jittered by ±20 %, as the worker's. Default: 100 milliseconds.
    /// </summary>
    public TimeSpan ReconnectDelay { get; init; } = ReconnectBackoff.DefaultDelay;

    /// <summary>The longest back-off between connect attempts to one server. Default: 10 seconds.</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = ReconnectBackoff.DefaultMaxDelay;

    /// <summary>
    /// The largest packet body accepted from a server, in bytes, and the largest submit this client sends: a job whose
    /// packet would be larger is refused with <see cref="ArgumentException"/> before anything is sent. Default: 16 MiB.
    /// </summary>
    public int MaxPacketSize { get; init; } = 16 << 20;

    /// <summary>Which transport the connections use (tests pin one; users have the <c>Gearman.Reactive.UsePortableTransport</c> switch).</summary>
    internal Connections.Transports.TransportKind Transport { get; init; }

    /// <summary>
    /// Whether to send <c>OPTION_REQ exceptions</c> on every connection, so that a worker's <c>WORK_EXCEPTION</c>
    /// reaches the client (as <see cref="GearmanJobException"/>) instead of a bare <c>WORK_FAIL</c>. Default: true.
    /// </summary>
    public bool EnableExceptions { get; init; } = true;

    /// <summary>An identifier sent with <c>SET_CLIENT_ID</c> on every connection (shown by admin <c>workers</c>). Default: none.</summary>
    public string? ClientId { get; init; }

    /// <summary>Where the client logs. Default: <see cref="NullLoggerFactory.Instance"/>.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The clock for timeouts, back-off and status polling. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
