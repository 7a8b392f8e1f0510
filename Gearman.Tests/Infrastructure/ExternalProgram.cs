using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A child process with captured stdout and stderr. Tests await its exit or a line of its output with a timeout;
/// disposing kills the whole process tree and reaps it.
/// </summary>
public sealed class ExternalProgram : IAsyncDisposable
{
    /// <summary>Default bound for <see cref="WaitForExitAsync"/> and <see cref="WaitForLineAsync"/>.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly List<string> _stdoutLines = [];
    private readonly List<string> _stderrLines = [];
    private readonly List<LineWaiter> _waiters = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private ExternalProgram(Process process, string description)
    {
        _process = process;
        Description = description;
    }

    /// <summary>The command line, for messages.</summary>
    public string Description { get; }

    /// <summary>The child's process id.</summary>
    public int Id => _process.Id;

    /// <summary>Completes when the process exits (no timeout, no kill).</summary>
    public Task Exited => _process.WaitForExitAsync();

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Everything written to stdout so far.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_lock) return _stdout.ToString();
        }
    }

    /// <summary>Everything written to stderr so far.</summary>
    public string StandardError
    {
        get
        {
            lock (_lock) return _stderr.ToString();
        }
    }

    /// <summary>The stdout lines so far.</summary>
    public IReadOnlyList<string> OutputLines
    {
        get
        {
            lock (_lock) return [.. _stdoutLines];
        }
    }

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/> (passed verbatim, no shell).</summary>
    /// <param name="fileName">The program.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="environment">Extra environment variables.</param>
    /// <param name="standardInput">Written to stdin, which is then closed; stdin is closed at once when null.</param>
    public static ExternalProgram Start(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? standardInput = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        if (environment is not null)
        {
            foreach (var (k, v) in environment) info.Environment[k] = v;
        }

        string description = fileName + " " + string.Join(' ', info.ArgumentList.Select(Quote));
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var program = new ExternalProgram(process, description);
        process.OutputDataReceived += (_, e) => program.OnLine(e.Data, isStdout: true);
        process.ErrorDataReceived += (_, e) => program.OnLine(e.Data, isStdout: false);
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException($"Could not start '{description}': {ex.Message}", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            if (standardInput is not null) process.StandardInput.Write(standardInput);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The child exited before reading its input; its exit code and output tell the test what happened.
        }

        return program;
    }

    /// <summary>Runs a program to completion and returns it (exited); throws with its output on timeout.</summary>
    public static async Task<ExternalProgram> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null, string? standardInput = null)
    {
        var program = Start(fileName, arguments, environment, standardInput);
        try
        {
            await program.WaitForExitAsync(timeout);
            return program;
        }
        catch
        {
            await program.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Waits for the process to exit and for its output to be fully read, then returns the exit code. On timeout the
    /// process tree is killed and a <see cref="TimeoutException"/> carrying the output so far is thrown.
    /// </summary>
    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var limit = timeout ?? DefaultTimeout;
        try
        {
            await Task.WhenAll(_process.WaitForExitAsync(ct), _stdoutClosed.Task, _stderrClosed.Task).WaitAsync(limit, ct);
        }
        catch (TimeoutException)
        {
            Kill();
            throw new TimeoutException($"'{Description}' did not exit within {limit}.\n{Transcript()}");
        }

        return _process.ExitCode;
    }

    /// <summary>Waits for a stdout line matching <paramref name="predicate"/> (lines already seen count) and returns it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan? timeout = null, CancellationToken ct = default)
        => (await WaitForLinesAsync(predicate, 1, timeout, ct))[0];

    /// <summary>Waits for a stderr line matching <paramref name="predicate"/> (lines already seen count) and returns it.</summary>
    public async Task<string> WaitForErrorLineAsync(Func<string, bool> predicate, TimeSpan? timeout = null, CancellationToken ct = default)
        => (await WaitForLinesAsync(predicate, 1, timeout, ct, stderr: true))[0];

    /// <summary>Waits until <paramref name="count"/> stdout (or stderr) lines match <paramref name="predicate"/> and returns them in order.</summary>
    public async Task<IReadOnlyList<string>> WaitForLinesAsync(Func<string, bool> predicate, int count, TimeSpan? timeout = null, CancellationToken ct = default, bool stderr = false)
    {
        var limit = timeout ?? DefaultTimeout;
        var waiter = new LineWaiter(predicate, count, stderr);
        lock (_lock)
        {
            foreach (var line in stderr ? _stderrLines : _stdoutLines) waiter.Offer(line);
            if (!waiter.Done.Task.IsCompleted)
            {
                if ((stderr ? _stderrClosed : _stdoutClosed).Task.IsCompleted) waiter.Fail();
                else _waiters.Add(waiter);
            }
        }

        try
        {
            return await waiter.Done.Task.WaitAsync(limit, ct);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"'{Description}' printed no expected line within {limit}.\n{Transcript()}");
        }
        catch (EndOfStreamException)
        {
            throw new InvalidOperationException($"'{Description}' closed its output before printing the expected line.\n{Transcript()}");
        }
        finally
        {
            lock (_lock) _waiters.Remove(waiter);
        }
    }

    /// <summary>Exit code, stdout and stderr, for assertion messages.</summary>
    public string Transcript()
    {
        string exit = _process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(running)";
        return $"command: {Description}\nexit: {exit}\n--- stdout ---\n{StandardOutput}--- stderr ---\n{StandardError}";
    }

    /// <summary>Kills the process tree (if still running) and reaps it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Kill();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }

    /// <summary>Kills the process tree now without waiting.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (Win32Exception)
        {
            // Exited between the check and the kill.
        }
    }

    private static string Quote(string a) => a.Length > 0 && !a.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'') ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private void OnLine(string? line, bool isStdout)
    {
        lock (_lock)
        {
            if (line is null)
            {
                foreach (var w in _waiters)
                {
                    if (w.Stderr != isStdout) w.Fail();
                }

                (isStdout ? _stdoutClosed : _stderrClosed).TrySetResult();
                return;
            }

            (isStdout ? _stdout : _stderr).Append(line).Append('\n');
            (isStdout ? _stdoutLines : _stderrLines).Add(line);
            foreach (var w in _waiters)
            {
                if (w.Stderr != isStdout) w.Offer(line);
            }
        }
    }

    private sealed class LineWaiter(Func<string, bool> predicate, int count, bool stderr)
    {
        private readonly List<string> _matches = [];

        public bool Stderr => stderr;

        public TaskCompletionSource<IReadOnlyList<string>> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Offer(string line)
        {
            if (Done.Task.IsCompleted || !predicate(line)) return;
            _matches.Add(line);
            if (_matches.Count >= count) Done.TrySetResult([.. _matches]);
        }

        public void Fail() => Done.TrySetException(new EndOfStreamException());
    }
}
