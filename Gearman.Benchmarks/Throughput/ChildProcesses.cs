using System.Diagnostics;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// Every process the harness starts, so that all of them are killed on exit, on Ctrl-C and on SIGTERM. As a second
/// line of defence each is started through <c>loadgen exec</c> or is a loadgen itself, which sets a parent-death
/// signal; that signal fires when the starting <em>thread</em> ends, so processes are only started from the main thread.
/// </summary>
internal static class ChildProcesses
{
    private static readonly Lock Gate = new();
    private static readonly List<Process> Running = [];
    private static volatile bool _cancelled;

    /// <summary>Set once Ctrl-C or SIGTERM arrived; the harness stops at the next step.</summary>
    public static bool Cancelled => _cancelled;

    public static void Track(Process process)
    {
        lock (Gate) Running.Add(process);
    }

    public static void Forget(Process process)
    {
        lock (Gate) Running.Remove(process);
    }

    /// <summary>Marks the run cancelled and kills everything still running.</summary>
    public static void Cancel()
    {
        _cancelled = true;
        KillAll();
    }

    public static void KillAll()
    {
        Process[] all;
        lock (Gate)
        {
            all = [.. Running];
            Running.Clear();
        }

        foreach (var p in all) Kill(p);
    }

    /// <summary>Kills <paramref name="process"/> if it still runs and reaps it.</summary>
    public static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(5_000);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Exited between the check and the kill.
        }
    }
}
