using Gearman.Server.Networking.Epoll;
using Gearman.Server.Persistence;

namespace Gearman.Server.Hosting;

/// <summary>Settings of one job server, modelled on gearmand's command line (protocol.md §6.1).</summary>
internal sealed record GearmanServerOptions
{
    /// <summary>The defaults: port 4730 on all addresses, unlimited retries, background jobs in <c>gearman-queue.db</c>.</summary>
    public static GearmanServerOptions Default { get; } = new();

    /// <summary>TCP port (<c>-p</c>); 0 picks a free port (read it back from <see cref="GearmanServer.EndPoint"/>).</summary>
    public int Port { get; init; } = 4730;

    /// <summary>Bind address (<c>-L</c>); null listens on every address, as gearmand does.</summary>
    public string? ListenAddress { get; init; }

    /// <summary><c>--job-retries</c>: -1 unlimited (HEAD default), 0 drop at the first failure, N run at most N times.</summary>
    public int JobRetries { get; init; } = -1;

    /// <summary><c>--worker-wakeup</c>: most NOOPs sent per queued job; 0 wakes every sleeping worker.</summary>
    public int WorkerWakeup { get; init; }

    /// <summary>
    /// Largest packet body accepted (<c>--max-packet-size</c>); larger declared sizes are refused before allocation. An
    /// <see cref="int"/>, like the SDK's <c>MaxPacketSize</c>: a body is read into one array, so no larger value could work.
    /// </summary>
    public int MaxPacketSize { get; init; } = 64 << 20;

    /// <summary>
    /// <c>--max-unsent-bytes</c>: reply bytes a connection may have waiting for a peer that does not read before it is
    /// closed (either transport: queued replies plus what the transport holds). Null: twice <see cref="MaxPacketSize"/>, at least 64 MiB (see <see cref="EffectiveMaxUnsentBytes"/>).
    /// </summary>
    public long? MaxUnsentBytes { get; init; }

    /// <summary>The outbound cap in force: <see cref="MaxUnsentBytes"/>, or its default.</summary>
    public long EffectiveMaxUnsentBytes => MaxUnsentBytes ?? Math.Max(64L << 20, 2L * MaxPacketSize);

    /// <summary><c>--transport</c>: how sockets are served; <see cref="ServerTransport.Auto"/> picks epoll on Linux.</summary>
    public ServerTransport Transport { get; init; } = ServerTransport.Auto;

    /// <summary>The transport <see cref="Transport"/> stands for on this machine.</summary>
    public ServerTransport EffectiveTransport => Transport switch
    {
        ServerTransport.Auto => LinuxInterop.IsSupported ? ServerTransport.Epoll : ServerTransport.Kestrel,
        var chosen => chosen,
    };

    /// <summary><c>--threads</c>: socket I/O threads (epoll loops; Kestrel's socket threads come from <see cref="SocketThreading"/>).</summary>
    public int IoThreads { get; init; } = 1;

    /// <summary><c>--job-handle-prefix</c>: handles become <c>prefix:n</c>; null means <c>H:hostname</c>.</summary>
    public string? HandlePrefix { get; init; }

    /// <summary><c>--exceptions</c>: every connection starts with exceptions enabled.</summary>
    public bool Exceptions { get; init; }

    /// <summary><c>--verbose</c> as gearmand's level index: 0 FATAL … 3 ERROR (default) … 6 INFO, 7 DEBUG.</summary>
    public int Verbosity { get; init; } = 3;

    /// <summary><c>--log-file</c>: where logs go; null or <c>stderr</c> for standard error, <c>none</c> for nowhere.</summary>
    public string? LogFile { get; init; }

    /// <summary><c>--queue-type</c>: where background jobs are kept; SQLite by default, <see cref="QueueType.Memory"/> keeps none.</summary>
    public QueueType QueueType { get; init; } = QueueType.Sqlite;

    /// <summary><c>--sqlite-db</c>: the SQLite database file, relative to the working directory unless rooted.</summary>
    public string SqliteDatabase { get; init; } = JobStores.DefaultSqliteDatabase;

    /// <summary>
    /// <c>--sqlite-synchronous</c>: true (FULL, the default) fsyncs every commit, so acknowledged jobs survive power loss;
    /// false (NORMAL) survives a process crash only.
    /// </summary>
    public bool SqliteFullSync { get; init; } = true;

    /// <summary><c>--postgres</c>: an Npgsql connection string, for <see cref="QueueType.Postgres"/>.</summary>
    public string? PostgresConnectionString { get; init; }

    /// <summary><c>--ssl</c> and its options: the main listener speaks TLS only (null: plaintext, as gearmand without --ssl).</summary>
    public Security.ServerTlsOptions? Tls { get; init; }

    /// <summary><c>--access-rules</c>: the rules file by certificate identity (null: everything is allowed; docs/security.md).</summary>
    public string? AccessRulesFile { get; init; }

    /// <summary><c>--queue-table</c>: the table the store uses (one server per table).</summary>
    public string QueueTable { get; init; } = JobStores.DefaultTable;

    /// <summary>
    /// <c>--http-port</c> (with <c>-r http</c>): the port of gearmand's HTTP job protocol (docs/monitoring.md); null
    /// serves none, 0 picks a free port (read it back from <see cref="GearmanServer.HttpEndPoint"/>). Binds like <see cref="ListenAddress"/>.
    /// </summary>
    public int? HttpPort { get; init; }

    /// <summary>
    /// <c>--monitor-port</c>: the port of <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c>, <c>/api/*</c> and the status
    /// page; null (the default) serves none, 0 picks a free port. Binds like <see cref="ListenAddress"/>.
    /// </summary>
    public int? MonitorPort { get; init; }

    /// <summary><c>--admin-token</c>: the secret the status page's cancel button must present; null keeps the page read-only.</summary>
    public string? AdminToken { get; init; }

    /// <summary><c>--keepalive</c>: TCP keep-alive on accepted sockets (they inherit it from the listening socket).</summary>
    public bool KeepAlive { get; init; }

    /// <summary><c>--keepalive-idle</c>: idle seconds before the first probe; null keeps the system's default.</summary>
    public int? KeepAliveIdle { get; init; }

    /// <summary><c>--keepalive-interval</c>: seconds between probes; null keeps the system's default.</summary>
    public int? KeepAliveInterval { get; init; }

    /// <summary><c>--keepalive-count</c>: unanswered probes before the connection is dropped; null keeps the system's default.</summary>
    public int? KeepAliveCount { get; init; }

    /// <summary><c>--backlog</c>: the listen queue length; null keeps the transport's default (512).</summary>
    public int? Backlog { get; init; }

    /// <summary>
    /// <c>--shutdown-timeout</c>: on a graceful stop, how long running jobs get to finish (workers may still send their
    /// results) after the server has stopped taking new connections and HTTP requests; zero stops at once.
    /// </summary>
    public TimeSpan ShutdownDrain { get; init; }

    /// <summary><c>--unique-jobs-layout 2.2</c>: admin <c>show unique jobs</c> prints gearmand 2.2's <c>handle\tunique</c> rows instead of 1.1.20's bare uniques.</summary>
    public bool UniqueJobsWithHandles { get; init; }
}
