using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Gearman.Tests.Infrastructure;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// A throw-away PostgreSQL cluster for the servers' durable queues, as the tests' <c>PostgresCluster</c> makes one:
/// <c>initdb</c> from Debian's <c>postgresql</c> package into a scratch directory, then <c>postgres</c> as a child of
/// the harness on a free loopback port (no Unix socket), trust authentication for the user <c>gearman</c>, default
/// durability settings (<c>fsync=on</c>, <c>synchronous_commit=on</c>). As root both run as the <c>postgres</c> user.
/// <para>
/// It is killed with the harness's other children on exit, Ctrl-C and SIGTERM, but not started through
/// <c>loadgen exec</c> (as root, <c>runuser</c> would drop the parent-death signal), so a <c>kill -9</c> of the harness
/// leaves it running: like the tests' clusters it writes <c>$TMPDIR/gearman-tests/postgres-*.pid</c>, which CI reaps.
/// </para>
/// </summary>
internal sealed class BenchPostgres : IDisposable
{
    private const string User = PostgresCommands.User;

    private readonly string _bin;
    private readonly string _data;
    private readonly LoadGenProcess _server;
    private readonly string? _pidFile;

    private BenchPostgres(string bin, string data, LoadGenProcess server, int port)
    {
        _bin = bin;
        _data = data;
        _server = server;
        Port = port;
        _pidFile = WritePidFile(data, port);
    }

    public int Port { get; }

    public bool IsRunning => !_server.HasExited;

    /// <summary>For our server's <c>--postgres</c> (Npgsql).</summary>
    public string ConnectionString => string.Create(CultureInfo.InvariantCulture, $"Host=127.0.0.1;Port={Port};Username={User};Database=postgres");

    /// <summary>For gearmand's <c>--libpq-conninfo</c>.</summary>
    public string ConnInfo => string.Create(CultureInfo.InvariantCulture, $"host=127.0.0.1 port={Port} user={User} dbname=postgres");

    /// <summary>Creates and starts a cluster in <paramref name="directory"/> (which must not exist yet).</summary>
    /// <exception cref="InvalidOperationException">PostgreSQL is not installed, or initdb or the server failed.</exception>
    public static BenchPostgres Start(string directory)
    {
        string bin = FindBinDirectory();
        Directory.CreateDirectory(directory);
        if (PostgresCommands.AsRoot) Run("chown", [PostgresCommands.ServiceUser, directory], asService: false);
        string data = Path.Combine(directory, "data");
        Console.Error.WriteLine($"starting a PostgreSQL cluster for the queues in {directory}");
        Run(Path.Combine(bin, "initdb"), PostgresCommands.InitDbArguments(data), asService: true);
        for (int attempt = 1; ; attempt++)
        {
            int port = FreePort();
            var (file, args) = PostgresCommands.Command(Path.Combine(bin, "postgres"), PostgresCommands.ServerArguments(data, port, maxConnections: 50), asService: true);
            var server = LoadGenProcess.Start(file, args, readyOnStderr: "ready to accept connections");
            try
            {
                server.WaitReady(TimeSpan.FromSeconds(60));
                return new BenchPostgres(bin, data, server, port);
            }
            catch (LoadException e)
            {
                server.Dispose();
                if (attempt >= 3) throw new InvalidOperationException(e.Message, e);

                // Most likely lost a race for the port: try another.
            }
        }
    }

    /// <summary>Stops the server (immediate shutdown: nothing here needs to survive) and reaps it.</summary>
    public void Dispose()
    {
        if (!_server.HasExited)
        {
            try
            {
                Run(Path.Combine(_bin, "pg_ctl"), ["stop", "-D", _data, "-m", "immediate", "-w", "-t", "30"], asService: true);
            }
            catch (InvalidOperationException e)
            {
                Console.Error.WriteLine($"pg_ctl stop failed, killing PostgreSQL: {e.Message}");
            }
        }

        _server.Dispose();
        if (_pidFile is not null) File.Delete(_pidFile);
    }

    /// <summary>The newest <c>/usr/lib/postgresql/N/bin</c> that has <c>initdb</c>.</summary>
    private static string FindBinDirectory()
    {
        return PostgresCommands.FindBinDirectory() ?? throw new InvalidOperationException("PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb); install the Debian package 'postgresql'");
    }

    /// <summary>The postmaster's pid, for CI's clean-up of strays (best effort).</summary>
    private static string? WritePidFile(string data, int port)
    {
        try
        {
            string pid = File.ReadLines(Path.Combine(data, "postmaster.pid")).First();
            string directory = Path.Combine(Path.GetTempPath(), "gearman-tests");
            Directory.CreateDirectory(directory);
            string file = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"postgres-bench-{port}-{Guid.NewGuid():N}.pid"));
            File.WriteAllText(file, pid + "\n");
            return file;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static void Run(string program, IReadOnlyList<string> arguments, bool asService)
    {
        var (file, args) = PostgresCommands.Command(program, arguments, asService);
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run {file}: {e.Message}", e);
        }

        using (process)
        {
            ChildProcesses.Track(process);
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(120_000)) ChildProcesses.Kill(process);
            process.WaitForExit();
            ChildProcesses.Forget(process);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{Path.GetFileName(program)} failed (exit code {process.ExitCode}): {(stdout + stderr.GetAwaiter().GetResult()).Trim()}");
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
