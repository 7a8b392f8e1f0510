using System.Globalization;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// How a throw-away cluster is made from Debian's <c>postgresql</c> binaries: where they are, the <c>initdb</c> and
/// <c>postgres</c> arguments, and running them as the <c>postgres</c> user when we are root (initdb refuses root).
/// One source for the tests' <c>PostgresCluster</c> and the benchmark harness's <c>BenchPostgres</c> (which
/// links this file), so both build their clusters the same way.
/// </summary>
internal static class PostgresCommands
{
    /// <summary>The cluster's superuser (trust authentication).</summary>
    public const string User = "gearman";

    /// <summary>Who runs the binaries when the caller is root.</summary>
    public const string ServiceUser = "postgres";

    public static bool AsRoot => Environment.IsPrivilegedProcess;

    /// <summary>The newest <c>/usr/lib/postgresql/N/bin</c> that has <c>initdb</c>; null when PostgreSQL is not installed.</summary>
    public static string? FindBinDirectory()
    {
        const string root = "/usr/lib/postgresql";
        return Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : -1))
                .Where(d => d.Version > 0 && File.Exists(Path.Combine(d.Dir, "bin", "initdb")))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir, "bin"))
                .FirstOrDefault()
            : null;
    }

    /// <summary><c>initdb</c>'s arguments for a cluster in <paramref name="data"/>.</summary>
    public static string[] InitDbArguments(string data) => ["-D", data, "-A", "trust", "-U", User, "--no-sync", "-E", "UTF8", "--locale=C"];

    /// <summary><c>postgres</c>'s arguments: TCP on 127.0.0.1:<paramref name="port"/> only (no Unix socket).</summary>
    public static string[] ServerArguments(string data, int port, int maxConnections) =>
    [
        "-D", data, "-c", "listen_addresses=127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-c", "unix_socket_directories=",
        "-c", "max_connections=" + maxConnections.ToString(CultureInfo.InvariantCulture),
    ];

    /// <summary>The command line that runs <paramref name="program"/>, through <c>runuser</c> as <see cref="ServiceUser"/> when <paramref name="asService"/> and root.</summary>
    public static (string File, string[] Arguments) Command(string program, IReadOnlyList<string> arguments, bool asService)
        => asService && AsRoot ? ("runuser", ["-u", ServiceUser, "--", program, .. arguments]) : (program, [.. arguments]);
}
