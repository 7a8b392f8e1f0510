using Gearman.Reactive;

namespace Gearman.Benchmarks.Throughput;

/// <summary>How to launch one job server on a given loopback port.</summary>
/// <param name="Name">Command-line and table name.</param>
/// <param name="Description">What runs, for the report.</param>
/// <param name="Command">Executable and arguments for a port (a fresh queue file or table at each call).</param>
/// <param name="StartTimeout">How long it may take to accept connections.</param>
/// <param name="Queue">Its queue type, as its own command line names it (<c>builtin</c>, <c>libsqlite3</c>, <c>memory</c>, ...).</param>
/// <param name="ClientTls">How the SDK load connects over TLS (<c>ours-tls</c>); null: plaintext.</param>
internal sealed record ServerSpec(string Name, string Description, Func<int, IReadOnlyList<string>> Command, TimeSpan StartTimeout, string Queue, GearmanTlsOptions? ClientTls = null);

/// <summary>Two servers whose figures the report divides (ours / gearmand), with the queue each runs.</summary>
internal sealed record ServerPair(string Ours, string Gearmand, string OurQueue, string GearmandQueue);

/// <summary>The servers the harness compares.</summary>
internal static class ServerCatalog
{
    public const string Gearmand = "gearmand";
    public const string Ours = "ours";

    /// <summary>Our server with <c>--ssl</c> (the SDK driver only: libgearman's loadgen has no TLS).</summary>
    public const string OursTls = "ours-tls";

    /// <summary>Our server with <c>--transport kestrel</c>, compared with gearmand as <see cref="Ours"/> is (the transport choice).</summary>
    public const string OursKestrel = "ours-kestrel";

    public static IReadOnlyList<string> Names { get; } = [Gearmand, Ours, OursKestrel, OursTls];

    /// <summary>
    /// The servers of one invocation in round order: each of <c>--servers</c> once, or under <c>--stores</c> each of them
    /// once per store (<c>gearmand-builtin</c>, <c>ours-memory</c>, <c>gearmand-libsqlite3</c>, <c>ours-sqlite</c>, ...).
    /// </summary>
    public static IReadOnlyList<ServerSpec> CreateAll(ThroughputOptions options, QueueBackends backends)
    {
        if (options.Stores is not { } stores)
        {
            return [.. options.Servers.Select(name => Create(name, name, name == Gearmand ? options.GearmandQueueType : options.OurQueueType, options, backends))];
        }

        return
        [
            .. from store in stores
               from name in options.Servers
               let queue = name == Gearmand ? QueueBackends.GearmandCounterpart(store) : store
               select Create(name, $"{name}-{queue}", queue, options, backends),
        ];
    }

    /// <summary>The pairs the report compares: ours and gearmand, or under <c>--stores</c> the two of each store.</summary>
    public static IReadOnlyList<ServerPair> Pairs(ThroughputOptions options)
    {
        // TLS against plaintext: ours-tls is divided by ours, as ours is by gearmand.
        if (options.Servers.Contains(OursTls) && options.Servers.Contains(Ours) && options.Stores is null)
        {
            return [new ServerPair(OursTls, Ours, options.OurQueueType, options.OurQueueType)];
        }

        if (!options.Servers.Contains(Gearmand)) return [];
        if (options.Stores is not { } stores)
        {
            return
            [
                .. ((string[])[Ours, OursKestrel]).Where(options.Servers.Contains)
                    .Select(ours => new ServerPair(ours, Gearmand, options.OurQueueType, options.GearmandQueueType)),
            ];
        }

        if (!options.Servers.Contains(Ours)) return [];
        return [.. stores.Select(s => new ServerPair($"{Ours}-{s}", $"{Gearmand}-{QueueBackends.GearmandCounterpart(s)}", s, QueueBackends.GearmandCounterpart(s)))];
    }

    private static ServerSpec Create(string kind, string name, string queue, ThroughputOptions options, QueueBackends backends) => kind switch
    {
        Gearmand => GearmandServer(name, queue, options, backends),
        Ours => OurServer(name, queue, options, backends),
        OursKestrel => OurServer(name, queue, options, backends, ["--transport", "kestrel"]),
        OursTls => WithTls(OurServer(name, queue, options, backends)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown server"),
    };

    /// <summary>
    /// gearmand with <c>-t 1</c> (one I/O thread is its fastest setting on 2 cores, issue 6) and its queue: builtin,
    /// <c>-q libsqlite3</c> on a fresh file, or <c>-q Postgres</c> on a fresh table.
    /// </summary>
    private static ServerSpec GearmandServer(string name, string queue, ThroughputOptions options, QueueBackends backends)
    {
        string[] Queue() => queue switch
        {
            QueueBackends.Libsqlite3 => ["-q", "libsqlite3", "--libsqlite3-db", backends.NewSqliteFile("gearmand")],
            QueueBackends.Postgres => ["-q", "Postgres", "--libpq-conninfo", backends.Cluster().ConnInfo, "--libpq-table", backends.NewTable("gearmand")],
            _ => [],
        };
        string described = queue switch
        {
            QueueBackends.Libsqlite3 => " -q libsqlite3 --libsqlite3-db FRESH_FILE",
            QueueBackends.Postgres => " -q Postgres --libpq-conninfo CONNINFO --libpq-table FRESH_TABLE",
            _ => string.Empty,
        };
        return new(
            name,
            $"{options.GearmandPath} -t 1 -L 127.0.0.1 -p PORT -l stderr{described}",
            port => [options.GearmandPath, "-t", "1", "-L", "127.0.0.1", "-p", Port(port), "-l", "stderr", .. Queue()],
            TimeSpan.FromSeconds(10),
            queue);
    }

    /// <summary>
    /// Our server: a Gearman.Server.dll runs under the dotnet host; any other path (the apphost, a published or AOT
    /// build) is executed directly. Either way it gets <c>--listen 127.0.0.1 --port PORT --queue-type …</c>, with a
    /// fresh SQLite file or PostgreSQL table per launch.
    /// </summary>
    private static ServerSpec OurServer(string name, string queue, ThroughputOptions options, QueueBackends backends, string[]? extra = null)
    {
        extra ??= [];
        string path = Path.GetFullPath(options.OurServerPath ?? FindOurServer());
        string[] launcher = path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? [FindDotnetHost(), path] : [path];

        // Never the default ./gearman-queue.db: a queue left by an earlier run would be replayed into this one.
        string[] Queue() => queue switch
        {
            QueueBackends.Sqlite => ["--queue-type", "sqlite", "--sqlite-db", backends.NewSqliteFile("ours")],
            QueueBackends.Postgres => ["--queue-type", "postgres", "--postgres", backends.Cluster().ConnectionString, "--queue-table", backends.NewTable("ours")],
            _ => ["--queue-type", "memory"],
        };
        string described = queue switch
        {
            QueueBackends.Sqlite => " --sqlite-db FRESH_FILE",
            QueueBackends.Postgres => " --postgres CONNECTION_STRING --queue-table FRESH_TABLE",
            _ => string.Empty,
        };
        return new(
            name,
            $"{string.Join(' ', launcher)} --listen 127.0.0.1 --port PORT --queue-type {queue}{described}{string.Concat(extra.Select(a => " " + a))}",
            port => [.. launcher, "--listen", "127.0.0.1", "--port", Port(port), .. Queue(), .. extra],
            TimeSpan.FromSeconds(30),
            queue);
    }

    /// <summary>Our server with <c>--ssl</c> on a certificate made for this invocation; the SDK load connects over TLS.</summary>
    private static ServerSpec WithTls(ServerSpec plain) => plain with
    {
        Description = plain.Description + " --ssl --ssl-certificate CERT --ssl-key KEY",
        Command = port => [.. plain.Command(port), .. BenchTls.ServerArguments()],
        ClientTls = BenchTls.ClientOptions(),
    };

    private static string Port(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Gearman.Server.dll as built alongside this harness: the project reference copies it (with its runtimeconfig)
    /// next to us; otherwise the server project's own output of the same configuration.
    /// </summary>
    private static string FindOurServer()
    {
        string here = AppContext.BaseDirectory;
        string beside = Path.Combine(here, "Gearman.Server.dll");
        if (File.Exists(beside) && File.Exists(Path.Combine(here, "Gearman.Server.runtimeconfig.json"))) return beside;

        string configuration = here.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gearman.sln")))
            {
                return Path.Combine(dir.FullName, "Gearman.Server", "bin", configuration, "net10.0", "Gearman.Server.dll");
            }
        }

        return beside;
    }

    private static string FindDotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") return Environment.ProcessPath!;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            string candidate = Path.Combine(dir, "dotnet");
            if (dir.Length > 0 && File.Exists(candidate)) return candidate;
        }

        return "dotnet";
    }
}
