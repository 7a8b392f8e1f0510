using System.Globalization;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Our server as a separate OS process (<c>dotnet Gearman.Server.dll</c>, copied next to the test assembly), for tests
/// that kill it with SIGKILL. It is started with <c>--port 0</c> (or a given port, to restart in place) and reports its
/// bound endpoint on stdout as <c>Listening on 127.0.0.1:PORT</c>. Disposing kills it and waits for it to exit. Its pid
/// is written to <c>ours-*.pid</c> under <see cref="GearmandServer.PidFileDirectory"/> so that CI can reap it if the
/// test host dies.
/// </summary>
internal sealed class ServerProcess : IServerUnderTest
{
    private readonly ExternalProgram _process;
    private readonly string _pidFile;
    private int _disposed;

    private ServerProcess(ExternalProgram process, int port)
    {
        _process = process;
        Port = port;
        Directory.CreateDirectory(GearmandServer.PidFileDirectory);
        _pidFile = Path.Combine(GearmandServer.PidFileDirectory, $"ours-{port}-{Guid.NewGuid():N}.pid");
        File.WriteAllText(_pidFile, process.Id.ToString(CultureInfo.InvariantCulture) + "\n");
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public ServerKind Kind => ServerKind.Ours;

    public int ProcessId => _process.Id;

    public string Log => _process.StandardError;

    /// <summary>The process, for its output and exit.</summary>
    public ExternalProgram Process => _process;

    /// <summary>The server's assembly next to the test assembly.</summary>
    public static string ServerAssembly { get; } = Path.Combine(AppContext.BaseDirectory, "Gearman.Server.dll");

    /// <summary>
    /// Starts the server with <paramref name="arguments"/> (queue options and so on) on <paramref name="port"/> (0: any
    /// free port); <paramref name="executable"/> runs another build of it (such as the installed dotnet tool) instead of
    /// the assembly next to the tests; <paramref name="launcher"/> (such as <c>nohup</c>) runs the command through another
    /// program that then executes it in the same process.
    /// </summary>
    public static async Task<ServerProcess> StartAsync(
        IEnumerable<string> arguments, int port = 0, CancellationToken ct = default, string? executable = null, string? launcher = null)
    {
        if (executable is null && !File.Exists(ServerAssembly)) throw new InvalidOperationException($"{ServerAssembly} not found: the test project must reference Gearman.Server.");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        List<string> args = ["--listen", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--verbose", "WARNING", .. TestServers.TransportArguments, .. arguments];
        string[] command = executable is null ? [dotnet, ServerAssembly, .. args] : [executable, .. args];
        var process = launcher is null ? ExternalProgram.Start(command[0], command[1..]) : ExternalProgram.Start(launcher, command);
        try
        {
            string line = await process.WaitForLineAsync(l => l.StartsWith("Listening on ", StringComparison.Ordinal), TestServers.StartTimeout, ct);
            int bound = int.Parse(line[(line.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            if (port != 0 && bound != port) throw new InvalidOperationException($"Asked for port {port}, got {bound}.\n{process.Transcript()}");
            return new ServerProcess(process, bound);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILL, then waits until the process is gone.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.Exited.WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGTERM (a graceful stop: the server drains its store writer), then waits for the exit code.</summary>
    public async Task<int> StopAsync()
    {
        await using (var kill = await ExternalProgram.RunAsync("kill", ["-TERM", ProcessId.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10)))
        {
            if (await kill.WaitForExitAsync() != 0) throw new InvalidOperationException($"kill -TERM failed.\n{kill.Transcript()}");
        }

        return await _process.WaitForExitAsync(TimeSpan.FromSeconds(30));
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
            // Best effort: CI reaps by pid.
        }
    }

    public override string ToString() => $"ours (pid {ProcessId}) at {Host}:{Port}";
}
