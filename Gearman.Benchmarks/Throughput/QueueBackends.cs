using System.Globalization;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// Where the servers' durable queues live during one harness invocation: a scratch directory for SQLite files (a fresh
/// file per launch) and, started on first use, a throw-away PostgreSQL cluster (a fresh table per launch). Everything is
/// removed on dispose; the cluster, like every child of the harness, is also killed on Ctrl-C and SIGTERM.
/// </summary>
internal sealed class QueueBackends : IDisposable
{
    public const string Memory = "memory";
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";
    public const string Builtin = "builtin";
    public const string Libsqlite3 = "libsqlite3";

    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"gearman-bench-{Guid.NewGuid():N}");
    private BenchPostgres? _postgres;
    private int _launches;

    /// <summary>Our server's queue types, which are also the store names of <c>--stores</c>.</summary>
    public static IReadOnlyList<string> OurQueueTypes { get; } = [Memory, Sqlite, Postgres];

    public static IReadOnlyList<string> GearmandQueueTypes { get; } = [Builtin, Libsqlite3, Postgres];

    /// <summary>gearmand's queue that corresponds to our <paramref name="store"/>.</summary>
    public static string GearmandCounterpart(string store) => store switch
    {
        Memory => Builtin,
        Sqlite => Libsqlite3,
        _ => store,
    };

    /// <summary>A database file that does not exist yet.</summary>
    public string NewSqliteFile(string prefix)
    {
        Directory.CreateDirectory(_directory);
        return Path.Combine(_directory, $"{prefix}-{Next()}.db");
    }

    /// <summary>A table name not used before in this invocation.</summary>
    public string NewTable(string prefix) => $"{prefix}_{Next()}";

    /// <summary>The cluster, started on first use (on the main thread, like every child process).</summary>
    /// <exception cref="ServerStartException">PostgreSQL is missing or did not start.</exception>
    public BenchPostgres Cluster()
    {
        if (_postgres is { IsRunning: true }) return _postgres;
        _postgres?.Dispose();
        _postgres = null;
        try
        {
            _postgres = BenchPostgres.Start(Path.Combine(_directory, $"pg-{Next()}"));
            return _postgres;
        }
        catch (InvalidOperationException e)
        {
            throw new ServerStartException($"no PostgreSQL for the queue: {e.Message}");
        }
    }

    public void Dispose()
    {
        _postgres?.Dispose();
        _postgres = null;
        try
        {
            if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private string Next() => Interlocked.Increment(ref _launches).ToString(CultureInfo.InvariantCulture);
}
