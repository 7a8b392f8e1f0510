using System.Diagnostics;
using System.Globalization;

namespace Gearman.Benchmarks.Throughput;

/// <summary>A running load generator (or server launched through <c>loadgen exec</c>), with its output collected.</summary>
internal sealed class LoadGenProcess : IDisposable
{
    private const int StderrLines = 20;

    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly Queue<string> _stderr = new();
    private readonly ManualResetEventSlim _ready = new();
    private readonly ManualResetEventSlim _exited = new();
    private readonly ManualResetEventSlim _usageArrived = new();
    private string? _result;
    private string? _usage;
    private string? _readyOnStderr;

    private LoadGenProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Exit code, once <see cref="HasExited"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The last lines written to stderr.</summary>
    public string StderrTail
    {
        get
        {
            lock (_gate) return string.Join('\n', _stderr);
        }
    }

    /// <summary>Starts <paramref name="file"/>; it is ready (<see cref="WaitReady"/>) once it prints READY, or a stderr line containing <paramref name="readyOnStderr"/>.</summary>
    public static LoadGenProcess Start(string file, IEnumerable<string> args, string? readyOnStderr = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var self = new LoadGenProcess(process) { _readyOnStderr = readyOnStderr };
        process.OutputDataReceived += (_, e) => self.OnStdout(e.Data);
        process.ErrorDataReceived += (_, e) => self.OnStderr(e.Data);
        process.Exited += (_, _) => self._exited.Set();
        if (ChildProcesses.Cancelled) throw new OperationCanceledException();
        process.Start();
        ChildProcesses.Track(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return self;
    }

    /// <summary>Waits until the process printed READY.</summary>
    /// <exception cref="LoadException">It exited or timed out first.</exception>
    public void WaitReady(TimeSpan timeout)
    {
        int which = WaitHandle.WaitAny([_ready.WaitHandle, _exited.WaitHandle], timeout);
        if (which == 0) return;
        if (which == WaitHandle.WaitTimeout) throw new LoadException($"{Describe()} not ready after {timeout.TotalSeconds:0} s");
        _process.WaitForExit();
        throw new LoadException($"{Describe()} exited with code {_process.ExitCode} before it was ready{Tail()}");
    }

    /// <summary>Waits for the process to end and parses its RESULT line.</summary>
    /// <exception cref="LoadException">It timed out (and was killed), failed, or printed no result.</exception>
    public LoadGenResult WaitForResult(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            ChildProcesses.Kill(_process);
            throw new LoadException($"{Describe()} timed out after {timeout.TotalSeconds:0} s{Tail()}");
        }

        _process.WaitForExit(); // drains the redirected output
        ChildProcesses.Forget(_process);
        string? line;
        lock (_gate) line = _result;
        if (ChildProcesses.Cancelled) throw new OperationCanceledException();
        if (line is null) throw new LoadException($"{Describe()} exited with code {_process.ExitCode} without a result{Tail()}");
        var result = LoadGenResult.Parse(line);
        if (_process.ExitCode != 0 || result.Errors > 0)
        {
            throw new LoadException($"{Describe()} failed (exit code {_process.ExitCode}): {line}{Tail()}");
        }

        return result;
    }

    /// <summary>
    /// Asks a running loadgen worker for its CPU and context switches so far (a USAGE line on its stdin, answered on
    /// its stdout), so that a worker that runs before and after a measured window can be read at its start and end.
    /// </summary>
    /// <exception cref="LoadException">It exited, or did not answer within <paramref name="timeout"/>.</exception>
    public LoadUsage Usage(TimeSpan timeout)
    {
        lock (_gate) _usage = null;
        _usageArrived.Reset();
        try
        {
            _process.StandardInput.WriteLine("USAGE");
            _process.StandardInput.Flush();
        }
        catch (IOException e)
        {
            throw new LoadException($"{Describe()} could not be asked for its usage: {e.Message}{Tail()}");
        }

        int which = WaitHandle.WaitAny([_usageArrived.WaitHandle, _exited.WaitHandle], timeout);
        if (which == WaitHandle.WaitTimeout) throw new LoadException($"{Describe()} did not report its usage within {timeout.TotalSeconds:0} s");
        string? line;
        lock (_gate) line = _usage;
        return line is null
            ? throw new LoadException($"{Describe()} exited before it reported its usage{Tail()}")
            : LoadUsage.Of(LoadGenResult.Parse(line));
    }

    /// <summary>Closes stdin (loadgen workers stop at EOF) and waits for the exit; kills after <paramref name="grace"/>.</summary>
    public void Stop(TimeSpan grace)
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Already gone.
        }

        if (!_process.WaitForExit(grace)) ChildProcesses.Kill(_process);
        ChildProcesses.Forget(_process);
    }

    public void Dispose()
    {
        ChildProcesses.Kill(_process);
        ChildProcesses.Forget(_process);
        _process.Dispose();
        _ready.Dispose();
        _exited.Dispose();
        _usageArrived.Dispose();
    }

    private string Describe() => $"'{string.Join(' ', _process.StartInfo.ArgumentList.Take(1).Prepend(Path.GetFileName(_process.StartInfo.FileName)))}'";

    private string Tail()
    {
        string tail = StderrTail;
        return tail.Length == 0 ? string.Empty : $"; stderr: {tail.ReplaceLineEndings(" | ")}";
    }

    private void OnStdout(string? line)
    {
        if (line is null) return;
        if (line == "READY") _ready.Set();
        else if (line.StartsWith("RESULT ", StringComparison.Ordinal)) lock (_gate) _result = line;
        else if (line.StartsWith("USAGE ", StringComparison.Ordinal))
        {
            lock (_gate) _usage = line;
            _usageArrived.Set();
        }
    }

    private void OnStderr(string? line)
    {
        if (line is null) return;
        if (_readyOnStderr is { } ready && line.Contains(ready, StringComparison.Ordinal)) _ready.Set();
        lock (_gate)
        {
            _stderr.Enqueue(line);
            if (_stderr.Count > StderrLines) _stderr.Dequeue();
        }
    }
}

/// <summary>The key=value pairs of a loadgen RESULT (or USAGE) line.</summary>
internal sealed class LoadGenResult
{
    private readonly Dictionary<string, string> _values;

    private LoadGenResult(string line, Dictionary<string, string> values)
    {
        Line = line;
        _values = values;
    }

    public string Line { get; }

    public long Jobs => Long("jobs");

    public long Errors => Long("errors");

    public static LoadGenResult Parse(string line)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) values[pair[..eq]] = pair[(eq + 1)..];
        }

        return new LoadGenResult(line, values);
    }

    public long Long(string key) => long.Parse(Value(key), NumberStyles.Integer, CultureInfo.InvariantCulture);

    public double Double(string key) => double.Parse(Value(key), NumberStyles.Float, CultureInfo.InvariantCulture);

    private string Value(string key) => _values.TryGetValue(key, out var v) ? v : throw new LoadException($"no '{key}' in '{Line}'");
}

/// <summary>A load phase failed; the run is reported as failed with this message.</summary>
internal sealed class LoadException(string message) : Exception(message);
