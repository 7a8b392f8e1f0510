using System.Net;
using System.Net.Sockets;

namespace Gearman.Benchmarks.Throughput;

/// <summary>A job server started for one measured run, on a fresh loopback port, killed on dispose.</summary>
internal sealed class RunningServer : IDisposable
{
    private readonly LoadGenProcess _process;

    private RunningServer(ServerSpec spec, LoadGenProcess process, int port)
    {
        Spec = spec;
        _process = process;
        Port = port;
    }

    public ServerSpec Spec { get; }

    public int Port { get; }

    public int Pid => _process.Pid;

    /// <summary>Starts the server through <c>loadgen exec</c> and waits until it accepts a TCP connection.</summary>
    /// <exception cref="ServerStartException">It exited, or did not accept within its start timeout.</exception>
    public static RunningServer Start(ServerSpec spec, LoadGen? loadGen)
    {
        int port = FreePort();
        var command = spec.Command(port);
        LoadGenProcess process;
        try
        {
            // Without the load generator (no gcc), start the server directly: Ctrl-C and normal exits still kill it.
            process = loadGen is null ? LoadGenProcess.Start(command[0], command.Skip(1)) : loadGen.Start("exec", command);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ServerStartException($"cannot start {command[0]}: {e.Message}");
        }

        var server = new RunningServer(spec, process, port);
        try
        {
            server.WaitAccepting();
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>CPU seconds the server used so far.</summary>
    public double CpuSeconds() => Alive(() => ProcStats.CpuSeconds(Pid));

    /// <summary>The server's resident memory now and at its peak.</summary>
    public (long Rss, long Peak) Memory() => Alive(() => ProcStats.Memory(Pid));

    public void Dispose() => _process.Dispose();

    private T Alive<T>(Func<T> read)
    {
        try
        {
            if (!_process.HasExited) return read();
        }
        catch (IOException)
        {
            // Exited while reading /proc.
        }

        throw new LoadException($"{Spec.Name} exited during the run{Tail()}");
    }

    private void WaitAccepting()
    {
        var deadline = DateTime.UtcNow + Spec.StartTimeout;
        while (true)
        {
            if (ChildProcesses.Cancelled) throw new OperationCanceledException();
            if (_process.HasExited) throw new ServerStartException($"exited with code {_process.ExitCode} before accepting connections{Tail()}");
            if (TryConnect()) return;
            if (DateTime.UtcNow > deadline)
            {
                throw new ServerStartException($"not accepting connections on 127.0.0.1:{Port} after {Spec.StartTimeout.TotalSeconds:0} s{Tail()}");
            }

            // Nothing to await: neither server announces readiness. Retry shortly (this also notices an early exit).
            Thread.Sleep(20);
        }
    }

    private bool TryConnect()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            var connect = socket.ConnectAsync(IPAddress.Loopback, Port);
            return connect.Wait(TimeSpan.FromMilliseconds(500)) && socket.Connected;
        }
        catch (AggregateException e) when (e.InnerException is SocketException)
        {
            return false;
        }
    }

    private string Tail()
    {
        string tail = _process.StderrTail;
        return tail.Length == 0 ? string.Empty : $"; stderr: {tail.ReplaceLineEndings(" | ")}";
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A server did not come up; its rows say "failed to start".</summary>
internal sealed class ServerStartException(string message) : Exception(message);
