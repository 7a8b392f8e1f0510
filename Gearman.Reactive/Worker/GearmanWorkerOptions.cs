using Gearman.Reactive.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gearman.Reactive.Worker;

/// <summary>
/// Settings of a <see cref="GearmanWorker"/>. Immutable: change a copy with <c>with</c>, starting from <see cref="Default"/>.
/// </summary>
public sealed record GearmanWorkerOptions : IGearmanConnectionOptions
{
    /// <summary>The defaults: one job server at <c>localhost:4730</c>, no client ID, 30 s graceful-stop bound.</summary>
    public static GearmanWorkerOptions Default { get; } = new();

    /// <summary>
    /// The job servers, each <c>host[:port]</c> (a missing or zero port means 4730). The worker connects to every one of
    /// them, registers its functions on each and grabs from each while it has capacity. Default: <c>["localhost:4730"]</c>.
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

    /// <summary>
    /// The identifier sent with <c>SET_CLIENT_ID</c> on every connection (shown by admin <c>workers</c>); null sends none
    /// and the server shows <c>-</c>. Default: null.
    /// </summary>
    public string? ClientId { get; init; }

    /// <summary>How long one connection attempt may take. Default: 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The first pause before reconnecting to a server that could not be reached or dropped the connection; each further
    /// failure doubles it (with ±20 % jitter) up to <see cref="MaxReconnectDelay"/>, as the client's. Default: 100 ms.
    /// </summary>
    public TimeSpan ReconnectDelay { get; init; } = ReconnectBackoff.DefaultDelay;

    /// <summary>The longest pause between reconnect attempts. Default: 10 seconds.</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = ReconnectBackoff.DefaultMaxDelay;

    /// <summary>
    /// How long <see cref="GearmanWorker.StopAsync"/> waits for the jobs in flight to end. When it expires, the jobs still
    /// running see their cancellation token fire and the connections close, so the server gives those jobs to another
    /// worker. Default: 30 seconds.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// What a handler that throws sends. True (the default): <c>WORK_EXCEPTION</c> with the exception's message; the server
    /// forwards it to clients that enabled exceptions and sends <c>WORK_FAIL</c> to the others. False: <c>WORK_FAIL</c>
    /// only. Choose false when clients use libgearman 1.1.x against gearmand 1.1.x without exceptions: that server
    /// converts the exception into a <c>WORK_FAIL</c> those clients do not recognise, and they wait forever.
    /// </summary>
    public bool SendExceptions { get; init; } = true;

    /// <summary>
    /// The largest packet body accepted from a server. A job assigned in a larger packet is read past without being
    /// buffered and failed (<c>WORK_EXCEPTION</c> with the reason, or <c>WORK_FAIL</c> when <see cref="SendExceptions"/>
    /// is false); the connection and the other jobs carry on. Default: 16 MiB.
    /// </summary>
    public int MaxPacketSize { get; init; } = 16 << 20;

    /// <summary>Which transport the connections use (tests pin one; users have the <c>Gearman.Reactive.UsePortableTransport</c> switch).</summary>
    internal Connections.Transports.TransportKind Transport { get; init; }

    /// <summary>Where the worker logs (category <c>Gearman.Reactive.Worker.GearmanWorker</c>). Default: no logging.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>
    /// The clock for job timeouts and reconnect back-off (the shutdown timeout always runs on real time). Default:
    /// <see cref="TimeProvider.System"/>.
    /// </summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
