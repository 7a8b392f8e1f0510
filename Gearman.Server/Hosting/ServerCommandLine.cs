using System.CommandLine;
using System.Globalization;
using Gearman.Server.Diagnostics;
using Gearman.Server.Persistence;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Hosting;

/// <summary>The <c>gearmand</c>-style command line (protocol.md §6.1).</summary>
internal static class ServerCommandLine
{
    private static readonly string[] LevelNames = ["FATAL", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"];

    public static async Task<int> RunAsync(string[] args)
    {
        var port = new Option<int>("--port", "-p") { Description = "Port to listen on.", DefaultValueFactory = _ => 4730 };
        var listen = new Option<string?>("--listen", "-L") { Description = "Address to listen on (default: all addresses)." };
        var jobRetries = new Option<int>("--job-retries", "-j")
        {
            Description = "Times to run a job whose worker dies before it is dropped: -1 unlimited, 0 or 1 drop at the first failure.",
            DefaultValueFactory = _ => -1,
        };
        var workerWakeup = new Option<int>("--worker-wakeup", "-w") { Description = "Workers to wake per queued job (0: all sleeping workers)." };
        var verbose = new Option<string>("--verbose") { Description = "Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG.", DefaultValueFactory = _ => "ERROR" };
        var logFile = new Option<string?>("--log-file", "-l") { Description = "Log destination: a file, 'stderr' (default) or 'none'." };
        var maxPacket = new Option<int>("--max-packet-size") { Description = "Largest packet body accepted, in bytes.", DefaultValueFactory = _ => 64 << 20 };
        var handlePrefix = new Option<string?>("--job-handle-prefix") { Description = "Job handles become PREFIX:n (default H:hostname:n)." };
        var exceptions = new Option<bool>("--exceptions") { Description = "Enable WORK_EXCEPTION forwarding on every connection." };
        var threads = new Option<int>("--threads", "-t") { Description = "Socket I/O threads (default 1; the scheduler itself is one thread)." };
        var transport = new Option<string>("--transport")
        {
            Description = "Socket transport: 'epoll' (dedicated epoll threads; the default on Linux x64/arm64), 'kestrel' (Kestrel sockets and pipes; the default elsewhere) or 'auto'.",
            DefaultValueFactory = _ => "auto",
        };
        var maxUnsent = new Option<long?>("--max-unsent-bytes")
        {
            Description = "Reply bytes a peer that does not read may leave waiting before its connection is closed (both transports; default twice --max-packet-size, at least 64 MiB).",
        };
        var roundRobin = new Option<bool>("--round-robin", "-R") { Description = "Accepted for gearmand compatibility; round robin is always on." };
        var queueType = new Option<string>("--queue-type", "-q")
        {
            Description = "Where background jobs are kept: 'sqlite' (default; a database file), 'postgres' (a PostgreSQL table) or 'memory' (not durable; gearmand's 'builtin').",
            DefaultValueFactory = _ => "sqlite",
        };
        var sqliteDb = new Option<string>("--sqlite-db", "--libsqlite3-db")
        {
            Description = $"SQLite database file for --queue-type sqlite (created if missing; default ./{JobStores.DefaultSqliteDatabase}).",
            DefaultValueFactory = _ => JobStores.DefaultSqliteDatabase,
        };
        var sqliteSync = new Option<string>("--sqlite-synchronous")
        {
            Description = "SQLite durability: 'full' (default; fsync each commit, survives power loss) or 'normal' (survives a server crash, not power loss).",
            DefaultValueFactory = _ => "full",
        };
        var postgres = new Option<string?>("--postgres")
        {
            Description = "Npgsql connection string for --queue-type postgres, e.g. 'Host=db;Username=gearman;Password=...;Database=gearman'.",
        };
        var queueTable = new Option<string>("--queue-table")
        {
            Description = $"Table that holds the background jobs (default {JobStores.DefaultTable}); one server per table.",
            DefaultValueFactory = _ => JobStores.DefaultTable,
        };

        var protocol = new Option<string[]>("--protocol", "-r") { Description = "Extra protocol to serve, as gearmand's -r: 'http' (gearmand's HTTP job protocol on --http-port)." };
        var httpPort = new Option<int>("--http-port") { Description = "Port of the HTTP job protocol (with -r http; default 8080).", DefaultValueFactory = _ => 8080 };
        var monitorPort = new Option<int?>("--monitor-port") { Description = "Port of /metrics, /healthz, /readyz, /api/* and the status page (off by default; binds like --listen)." };
        var adminToken = new Option<string?>("--admin-token") { Description = "Secret that lets the status page cancel queued jobs (Authorization: Bearer TOKEN); without it the page is read-only." };

        var keepAlive = new Option<bool>("--keepalive") { Description = "Enable TCP keep-alive on accepted sockets." };
        var keepAliveIdle = new Option<int>("--keepalive-idle") { Description = "Idle seconds before the first keep-alive probe (-1: system default).", DefaultValueFactory = _ => -1 };
        var keepAliveInterval = new Option<int>("--keepalive-interval") { Description = "Seconds between keep-alive probes (-1: system default).", DefaultValueFactory = _ => -1 };
        var keepAliveCount = new Option<int>("--keepalive-count") { Description = "Unanswered keep-alive probes before the connection is dropped (-1: system default).", DefaultValueFactory = _ => -1 };
        var backlog = new Option<int?>("--backlog", "-b") { Description = "Listen queue length (default 512)." };
        var pidFile = new Option<string?>("--pid-file", "-P") { Description = "Write the process id to this file once listening; removed on a clean exit." };
        var shutdownTimeout = new Option<double>("--shutdown-timeout") { Description = "On SIGTERM/SIGINT, stop accepting and give running jobs up to this many seconds to finish (default 0: stop at once)." };
        var uniqueLayout = new Option<string>("--unique-jobs-layout") { Description = "Admin 'show unique jobs' rows: '1.1.20' (default; the unique ID) or '2.2' (handle TAB unique).", DefaultValueFactory = _ => "1.1.20" };
        var user = new Option<string?>("--user", "-u") { Description = "Accepted for Debian's init script when it names the user the server already runs as; switching users is refused." };
        var daemon = new Option<bool>("--daemon", "-d") { Description = "Refused: the server stays in the foreground (run it under systemd, Type=simple)." };
        var syslog = new Option<bool>("--syslog") { Description = "Refused: log to standard error (journald) or --log-file." };
        var hashtableBuckets = new Option<int?>("--hashtable-buckets") { Description = "Accepted and ignored (the server's tables grow as needed)." };
        var fileDescriptors = new Option<int?>("--file-descriptors", "-f") { Description = "Refused: raise the limit with LimitNOFILE= or ulimit -n." };
        var coredump = new Option<bool>("--coredump") { Description = "Accepted and ignored (core dumps follow the system's settings)." };
        var configFile = new Option<string?>("--config-file") { Description = "Refused: pass options on the command line (Debian's PARAMS)." };

        var security = new SecurityOptions();
        var root = new RootCommand("A gearmand-compatible Gearman job server for .NET.")
        {
            port, listen, jobRetries, workerWakeup, verbose, logFile, maxPacket, handlePrefix, exceptions, threads, transport, maxUnsent,
            roundRobin, queueType, sqliteDb, sqliteSync, postgres, queueTable, protocol, httpPort, monitorPort, adminToken,
            keepAlive, keepAliveIdle, keepAliveInterval, keepAliveCount, backlog, pidFile, shutdownTimeout, uniqueLayout,
            user, daemon, syslog, hashtableBuckets, fileDescriptors, coredump, configFile,
        };
        security.AddTo(root);

        root.SetAction(async (result, cancellationToken) =>
        {
            string level = result.GetValue(verbose)!;
            int verbosity = ParseLevel(level);
            if (verbosity < 0)
            {
                await Console.Error.WriteLineAsync($"Invalid --verbose level '{level}': expected one of {string.Join(", ", LevelNames)}.").ConfigureAwait(false);
                return 2;
            }

            string type = result.GetValue(queueType)!;
            QueueType? parsedType = ParseQueueType(type);
            if (parsedType is null)
            {
                await Console.Error.WriteLineAsync($"Invalid --queue-type '{type}': expected sqlite, postgres or memory.").ConfigureAwait(false);
                return 2;
            }

            string sync = result.GetValue(sqliteSync)!;
            if (!string.Equals(sync, "full", StringComparison.OrdinalIgnoreCase) && !string.Equals(sync, "normal", StringComparison.OrdinalIgnoreCase))
            {
                await Console.Error.WriteLineAsync($"Invalid --sqlite-synchronous '{sync}': expected full or normal.").ConfigureAwait(false);
                return 2;
            }

            string? connectionString = result.GetValue(postgres);
            if (parsedType == QueueType.Postgres && string.IsNullOrWhiteSpace(connectionString))
            {
                await Console.Error.WriteLineAsync("--queue-type postgres needs --postgres CONNECTION_STRING.").ConfigureAwait(false);
                return 2;
            }

            string transportName = result.GetValue(transport)!;
            ServerTransport? parsedTransport = ParseTransport(transportName);
            if (parsedTransport is null)
            {
                await Console.Error.WriteLineAsync($"Invalid --transport '{transportName}': expected epoll, kestrel or auto.").ConfigureAwait(false);
                return 2;
            }

            if (parsedTransport == ServerTransport.Epoll && !Networking.Epoll.LinuxInterop.IsSupported)
            {
                await Console.Error.WriteLineAsync("--transport epoll needs Linux on x64 or arm64; use --transport kestrel.").ConfigureAwait(false);
                return 2;
            }

            long? unsentLimit = result.GetValue(maxUnsent);
            if (unsentLimit is <= 0)
            {
                await Console.Error.WriteLineAsync("--max-unsent-bytes must be positive.").ConfigureAwait(false);
                return 2;
            }

            if (result.GetValue(maxPacket) < 0)
            {
                await Console.Error.WriteLineAsync("--max-packet-size must not be negative.").ConfigureAwait(false);
                return 2;
            }

            string table = result.GetValue(queueTable)!;
            try
            {
                JobStores.ValidateTableName(table);
            }
            catch (ArgumentException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return 2;
            }

            int? servedHttpPort = null;
            foreach (string name in result.GetValue(protocol) ?? [])
            {
                if (!string.Equals(name, "http", StringComparison.OrdinalIgnoreCase))
                {
                    await Console.Error.WriteLineAsync($"Unknown --protocol '{name}': only 'http' is available (the Gearman protocol is always on).").ConfigureAwait(false);
                    return 2;
                }

                servedHttpPort = result.GetValue(httpPort);
            }

            if (servedHttpPort is null && result.GetResult(httpPort) is { Implicit: false })
            {
                await Console.Error.WriteLineAsync("--http-port needs -r http (gearmand's HTTP protocol is off otherwise).").ConfigureAwait(false);
                return 2;
            }

            if (servedHttpPort is < 0 or > 65535 || result.GetValue(monitorPort) is < 0 or > 65535)
            {
                await Console.Error.WriteLineAsync("--http-port and --monitor-port must be between 0 and 65535.").ConfigureAwait(false);
                return 2;
            }

            string? refused = DebianRefusal(result.GetValue(daemon), result.GetValue(syslog), result.GetValue(fileDescriptors), result.GetValue(configFile), result.GetValue(user));
            if (refused is not null)
            {
                await Console.Error.WriteLineAsync(refused).ConfigureAwait(false);
                return 2;
            }

            string layout = result.GetValue(uniqueLayout)!;
            if (layout is not ("1.1.20" or "1.1" or "2.2"))
            {
                await Console.Error.WriteLineAsync($"Invalid --unique-jobs-layout '{layout}': expected 1.1.20 or 2.2.").ConfigureAwait(false);
                return 2;
            }

            double drainSeconds = result.GetValue(shutdownTimeout);
            if (drainSeconds < 0 || result.GetValue(backlog) is <= 0)
            {
                await Console.Error.WriteLineAsync("--shutdown-timeout must not be negative and --backlog must be positive.").ConfigureAwait(false);
                return 2;
            }

            if (!security.TryParse(result, out var tls, out var accessRules, out string? securityError))
            {
                await Console.Error.WriteLineAsync(securityError).ConfigureAwait(false);
                return 2;
            }

            var options = new GearmanServerOptions
            {
                KeepAlive = result.GetValue(keepAlive),
                KeepAliveIdle = Positive(result.GetValue(keepAliveIdle)),
                KeepAliveInterval = Positive(result.GetValue(keepAliveInterval)),
                KeepAliveCount = Positive(result.GetValue(keepAliveCount)),
                Backlog = result.GetValue(backlog),
                ShutdownDrain = TimeSpan.FromSeconds(drainSeconds),
                UniqueJobsWithHandles = layout == "2.2",
                HttpPort = servedHttpPort,
                MonitorPort = result.GetValue(monitorPort),
                AdminToken = result.GetValue(adminToken),
                Tls = tls,
                AccessRulesFile = accessRules,
                QueueType = parsedType.Value,
                SqliteDatabase = result.GetValue(sqliteDb)!,
                SqliteFullSync = string.Equals(sync, "full", StringComparison.OrdinalIgnoreCase),
                PostgresConnectionString = connectionString,
                QueueTable = table,
                Port = result.GetValue(port),
                ListenAddress = result.GetValue(listen),
                JobRetries = result.GetValue(jobRetries),
                WorkerWakeup = Math.Max(0, result.GetValue(workerWakeup)),
                Verbosity = verbosity,
                LogFile = result.GetValue(logFile),
                MaxPacketSize = result.GetValue(maxPacket),
                HandlePrefix = result.GetValue(handlePrefix),
                Exceptions = result.GetValue(exceptions),
                Transport = parsedTransport.Value,
                MaxUnsentBytes = unsentLimit,
                IoThreads = Math.Max(1, result.GetValue(threads)),
            };

            SocketThreading.Configure(result.GetValue(threads));
            return await ServeAsync(options, result.GetValue(pidFile), cancellationToken).ConfigureAwait(false);
        });

        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }

    private static int? Positive(int value) => value > 0 ? value : null;

    /// <summary>Debian's gearman-job-server start-up options we cannot honour, with what to do instead (docs/server.md).</summary>
    private static string? DebianRefusal(bool daemon, bool syslog, int? fileDescriptors, string? configFile, string? user)
    {
        if (daemon) return "--daemon is not supported: the server stays in the foreground; run it under systemd with Type=simple (or start-stop-daemon --background).";
        if (syslog) return "--syslog is not supported: logs go to standard error (journald under systemd) or to --log-file.";
        if (fileDescriptors is not null) return "--file-descriptors is not supported: raise the limit with LimitNOFILE= (systemd) or ulimit -n.";
        if (configFile is not null) return "--config-file is not supported: pass the options on the command line (Debian's PARAMS in /etc/default/gearman-job-server).";
        if (user is not null && !string.Equals(user, Environment.UserName, StringComparison.Ordinal))
        {
            return $"--user {user}: the server cannot switch users (it runs as {Environment.UserName}); start it as that user (systemd User=, or start-stop-daemon --chuid).";
        }

        return null;
    }

    private static async Task<int> ServeAsync(GearmanServerOptions options, string? pidFile, CancellationToken cancellationToken)
    {
        GearmanServer server;
        FileLoggerProvider? file = null;
        try
        {
            server = await GearmanServer.StartAsync(options, cancellationToken, logging =>
            {
                var minimum = ToLogLevel(options.Verbosity);
                logging.SetMinimumLevel(minimum);
                logging.AddFilter("Microsoft", LogLevel.Warning);
                logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.Critical); // a failed bind is reported once, below
                switch (options.LogFile)
                {
                    case null or "stderr":
                        logging.AddSimpleConsole(c => c.SingleLine = true);
                        logging.AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
                        break;
                    case "none":
                        break;
                    default:
                        file = new FileLoggerProvider(options.LogFile);
                        logging.AddProvider(file);
                        break;
                }
            }).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            // Any listener can fail (the Gearman port, --plain-port, --http-port, --monitor-port): the message names its address.
            await Console.Error.WriteLineAsync($"Could not listen: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (Security.TlsConfigurationException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 1;
        }
        catch (JobStoreUnavailableException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 1;
        }

        // A parsable line for scripts and tests that start the server with --port 0.
        await Console.Out.WriteLineAsync($"Listening on {server.EndPoint}").ConfigureAwait(false);
        if (server.HttpEndPoint is { } http) await Console.Out.WriteLineAsync($"HTTP job protocol on {http}").ConfigureAwait(false);
        if (server.MonitorEndPoint is { } monitor) await Console.Out.WriteLineAsync($"Monitoring on {monitor}").ConfigureAwait(false);
        await Console.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (pidFile is not null)
        {
            try
            {
                await File.WriteAllTextAsync(pidFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n", cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"Could not write --pid-file {pidFile}: {ex.Message}").ConfigureAwait(false);
                await server.DisposeAsync().ConfigureAwait(false);
                file?.Dispose();
                return 1;
            }
        }

        try
        {
            await Task.WhenAny(server.Stopped, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            await server.DisposeAsync().ConfigureAwait(false);
            file?.Dispose();
            if (pidFile is not null) File.Delete(pidFile);
        }

        return 0;
    }

    private static QueueType? ParseQueueType(string type) => type.ToLowerInvariant() switch
    {
        "sqlite" or "libsqlite3" => QueueType.Sqlite,
        "postgres" or "postgresql" or "libpq" => QueueType.Postgres,
        "memory" or "builtin" or "none" => QueueType.Memory,
        _ => null,
    };

    private static ServerTransport? ParseTransport(string name) => name.ToLowerInvariant() switch
    {
        "auto" => ServerTransport.Auto,
        "epoll" => ServerTransport.Epoll,
        "kestrel" => ServerTransport.Kestrel,
        _ => null,
    };

    private static int ParseLevel(string level)
    {
        if (int.TryParse(level, NumberStyles.None, CultureInfo.InvariantCulture, out int n)) return n is >= 0 and <= 7 ? n : -1;
        return Array.FindIndex(LevelNames, l => string.Equals(l, level, StringComparison.OrdinalIgnoreCase));
    }

    private static LogLevel ToLogLevel(int verbosity) => verbosity switch
    {
        <= 2 => LogLevel.Critical,
        3 => LogLevel.Error,
        4 => LogLevel.Warning,
        5 or 6 => LogLevel.Information,
        _ => LogLevel.Debug,
    };
}
