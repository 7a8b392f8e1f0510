using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// The reference server: <c>/usr/sbin/gearmand</c> from Debian's gearman-job-server, as a child process on a free
/// loopback port. It writes a pid file under <see cref="PidFileDirectory"/> so that CI can reap strays if a test
/// host dies; disposing kills it and waits for it to exit.
/// </summary>
internal sealed class GearmandServer : IServerUnderTest
{
    /// <summary>Where the reference server is installed.</summary>
    public const string Path = "/usr/sbin/gearmand";

    private const int PortAttempts = 5;

    private readonly ExternalProgram _process;
    private readonly string _pidFile;
    private int _disposed;

    private GearmandServer(ExternalProgram process, int port, string pidFile, int? httpPort)
    {
        _process = process;
        Port = port;
        _pidFile = pidFile;
        HttpPort = httpPort;
    }

    /// <summary>
    /// Pid files of running test gearmands: <c>$TMPDIR/gearman-tests/gearmand-HOSTPID-PORT-ID.pid</c>. <c>.ci/run</c>
    /// stops a gearmand whose test host (HOSTPID) no longer exists.
    /// </summary>
    public static string PidFileDirectory { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "gearman-tests");

    public string Host => "127.0.0.1";

    public int Port { get; }

    public ServerKind Kind => ServerKind.Gearmand;

    public int ProcessId => _process.Id;

    public int? HttpPort { get; }

    public string Log => _process.StandardError;

    public static async Task<IServerUnderTest> StartAsync(ServerStartOptions options, CancellationToken ct)
    {
        if (!File.Exists(Path))
        {
            throw new InvalidOperationException(
                $"{Path} not found. Interop tests are required and never skipped: install the Debian package " +
                "'gearman-job-server' (apt-get install gearman-job-server), or run .ci/run, which installs it.");
        }

        Directory.CreateDirectory(PidFileDirectory);
        var deadline = DateTime.UtcNow + TestServers.StartTimeout;
        string failures = string.Empty;
        for (int attempt = 1; attempt <= PortAttempts; attempt++)
        {
            // The port is free now; gearmand may still lose a race for it, and then it exits and we try another.
            int port = LoopbackPorts.Unused();
            // The name carries the test host's pid: CI reaps a gearmand only when its test host is gone.
            string pidFile = System.IO.Path.Combine(PidFileDirectory, $"gearmand-{Environment.ProcessId}-{port}-{Guid.NewGuid():N}.pid");
            int? httpPort = options.Http ? LoopbackPorts.Unused() : null;
            var process = ExternalProgram.Start(Path, Arguments(options, port, pidFile, httpPort));
            var server = new GearmandServer(process, port, pidFile, httpPort);
            try
            {
                if (await server.WaitUntilListeningAsync(deadline, ct)) return server;
                failures += $"attempt {attempt} on port {port}:\n{process.Transcript()}\n";
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }

            await server.DisposeAsync();
        }

        throw new InvalidOperationException($"gearmand did not start after {PortAttempts} attempts.\n{failures}");
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _process.DisposeAsync();
        try
        {
            File.Delete(_pidFile);
        }
        catch (IOException)
        {
            // Best effort: CI reaps by pid, and a pid file without a live gearmand is ignored.
        }
    }

    public override string ToString() => $"gearmand at {Host}:{Port} (pid {ProcessId})";

    private static List<string> Arguments(ServerStartOptions options, int port, string pidFile, int? httpPort)
    {
        var args = new List<string>
        {
            "-L", "127.0.0.1",
            "-p", port.ToString(CultureInfo.InvariantCulture),
            "-t", "1",
            "-l", "stderr",
            "--verbose", "INFO",
            "-P", pidFile,
        };
        if (options.JobRetries is { } retries) args.AddRange(["-j", retries.ToString(CultureInfo.InvariantCulture)]);
        if (options.WorkerWakeup is { } wakeup) args.AddRange(["-w", wakeup.ToString(CultureInfo.InvariantCulture)]);
        if (options.Exceptions) args.Add("--exceptions");
        if (options.HandlePrefix is { } prefix) args.AddRange(["--job-handle-prefix", prefix]);
        if (httpPort is { } http) args.AddRange(["-r", "http", "--http-port", http.ToString(CultureInfo.InvariantCulture)]);
        args.AddRange(options.ExtraGearmandArgs);
        return args;
    }

    /// <summary>
    /// Waits for gearmand's "Listening on 127.0.0.1:PORT" log line (or its exit), then confirms with a TCP connect,
    /// retried against the deadline. False when gearmand exited (typically: the port was taken).
    /// </summary>
    private async Task<bool> WaitUntilListeningAsync(DateTime deadline, CancellationToken ct)
    {
        string listening = $"Listening on 127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";
        var logged = _process.WaitForErrorLineAsync(l => l.Contains(listening, StringComparison.Ordinal), Remaining(deadline), ct);
        try
        {
            var first = await Task.WhenAny(logged, _process.Exited);
            if (first != logged || _process.HasExited) return false;
            await logged;
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            if (_process.HasExited) return false;
            throw new InvalidOperationException($"gearmand did not report listening on port {Port}.\n{_process.Transcript()}", ex);
        }
        finally
        {
            // Observe the log wait so that a late failure does not surface as an unobserved exception.
            _ = logged.ContinueWith(static t => t.Exception, TaskScheduler.Default);
        }

        while (true)
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, Port, ct);
                if (HttpPort is { } http)
                {
                    using var httpClient = new TcpClient();
                    await httpClient.ConnectAsync(IPAddress.Loopback, http, ct);
                }

                return true;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                // Logged as listening but not accepting yet: retry against the deadline.
                await Task.Delay(20, ct);
            }
            catch (SocketException ex)
            {
                throw new InvalidOperationException($"gearmand does not accept connections on port {Port}.\n{_process.Transcript()}", ex);
            }
        }
    }

    private static TimeSpan Remaining(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }
}
