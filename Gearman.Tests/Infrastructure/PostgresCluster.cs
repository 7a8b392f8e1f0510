using System.Globalization;
using Xunit;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A throw-away PostgreSQL cluster from Debian's <c>postgresql</c> package: <c>initdb</c> into a temporary directory,
/// then <c>postgres</c> as a child process listening on 127.0.0.1 on a free port (no Unix socket), trust authentication
/// for the user <c>gearman</c>. As root, both run as the <c>postgres</c> user (initdb refuses root). Missing
/// PostgreSQL fails the test: these tests are required, never skipped. Usable as an xunit class fixture; disposing
/// stops the server and deletes the directory. A pid file under <see cref="GearmandServer.PidFileDirectory"/> lets CI
/// reap a cluster whose test host died.
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private const string User = PostgresCommands.User;

    private static int _nextTable;

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "gearman-tests", "pg-" + Guid.NewGuid().ToString("N")[..12]);
    private ExternalProgram? _server;
    private string? _pidFile;

    /// <summary>The loopback port the cluster listens on (kept across <see cref="StopAsync"/> and <see cref="RestartAsync"/>).</summary>
    public int Port { get; private set; }

    /// <summary>An Npgsql connection string for the <c>postgres</c> database.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username={User};Database=postgres;Timeout=5;Command Timeout=10";

    /// <summary>What the server logged (its stderr), for failure messages.</summary>
    public string Log => _server?.StandardError ?? string.Empty;

    /// <summary>A table name not used by any other test in this run.</summary>
    public static string NewTable(string prefix = "jobs") => $"{prefix}_{Environment.ProcessId}_{Interlocked.Increment(ref _nextTable)}";

    /// <summary>Where <c>initdb</c>, <c>postgres</c> and <c>pg_ctl</c> are: the newest <c>/usr/lib/postgresql/N/bin</c>.</summary>
    public static string FindBinDirectory()
    {
        return PostgresCommands.FindBinDirectory() ?? throw new InvalidOperationException(
            "PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb). The PostgreSQL store tests are required and " +
            "never skipped: install the Debian package 'postgresql' (apt-get install postgresql), or run .ci/run, which installs it.");
    }

    public async ValueTask InitializeAsync()
    {
        string bin = FindBinDirectory();
        Directory.CreateDirectory(_directory);
        if (PostgresCommands.AsRoot) await RunAsync("chown", [PostgresCommands.ServiceUser, _directory], asService: false);
        await RunAsync(Path.Combine(bin, "initdb"), PostgresCommands.InitDbArguments(DataDirectory), asService: true);
        for (int attempt = 1; ; attempt++)
        {
            Port = LoopbackPorts.Unused();
            try
            {
                await StartServerAsync();
                return;
            }
            catch (InvalidOperationException) when (attempt < 5)
            {
                // Lost a race for the port: try another.
            }
        }
    }

    /// <summary>Stops the server at once (<c>pg_ctl stop -m immediate</c>), as if the database host went away.</summary>
    public async Task StopAsync()
    {
        if (_server is null) return;
        await RunAsync(Path.Combine(FindBinDirectory(), "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "60"], asService: true);
        await _server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        await _server.DisposeAsync();
        _server = null;
        DeletePidFile();
    }

    /// <summary>Starts the server again on the same port and data.</summary>
    public Task RestartAsync() => StartServerAsync();

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_server is { HasExited: false }) await StopAsync();
        }
        finally
        {
            if (_server is not null) await _server.DisposeAsync();
            DeletePidFile();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    public override string ToString() => $"PostgreSQL at 127.0.0.1:{Port}";

    private string DataDirectory => Path.Combine(_directory, "data");

    private static async Task RunAsync(string program, IReadOnlyList<string> arguments, bool asService)
    {
        var (file, args) = PostgresCommands.Command(program, arguments, asService);
        await using var run = await ExternalProgram.RunAsync(file, args, TimeSpan.FromSeconds(120));
        if (await run.WaitForExitAsync() != 0) throw new InvalidOperationException($"{program} failed.\n{run.Transcript()}");
    }

    private async Task StartServerAsync()
    {
        var (file, args) = PostgresCommands.Command(
            Path.Combine(FindBinDirectory(), "postgres"), PostgresCommands.ServerArguments(DataDirectory, Port, maxConnections: 200), asService: true);
        var server = ExternalProgram.Start(file, args);
        try
        {
            var ready = server.WaitForErrorLineAsync(l => l.Contains("ready to accept connections", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            var first = await Task.WhenAny(ready, server.Exited);
            if (first != ready) throw new InvalidOperationException($"PostgreSQL exited while starting on port {Port}.\n{server.Transcript()}");
            await ready;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        _server = server;
        WritePidFile();
    }

    private void WritePidFile()
    {
        try
        {
            string pid = File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).First();
            Directory.CreateDirectory(GearmandServer.PidFileDirectory);
            _pidFile = Path.Combine(GearmandServer.PidFileDirectory, $"postgres-{Port}-{Guid.NewGuid():N}.pid");
            File.WriteAllText(_pidFile, pid + "\n");
        }
        catch (IOException)
        {
            // Only for CI's clean-up of strays.
        }
    }

    private void DeletePidFile()
    {
        if (_pidFile is null) return;
        try
        {
            File.Delete(_pidFile);
        }
        catch (IOException)
        {
        }

        _pidFile = null;
    }
}
