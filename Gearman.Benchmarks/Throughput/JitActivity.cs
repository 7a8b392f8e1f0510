using System.Globalization;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// CPU of the .NET runtime's background JIT (its tiered-compilation thread) in the server and, when it hosts the load
/// (the SDK driver), in this process. Hot methods are recompiled with profile data a while after their first calls; a warm-up that
/// ends before that leaves the recompilation in the measured window, where it was up to 0.2 s of the SDK's CPU in a
/// one-second run. Processes without the thread (gearmand, loadgen) count nothing. Linux only, from /proc.
/// </summary>
internal sealed class JitActivity(int serverPid, bool includeSelf)
{
    /// <summary>What /proc calls the thread: its name, ".NET Tiered Compilation Worker", cut to 15 bytes.</summary>
    private const string ThreadName = ".NET Tiered Com";

    private Dictionary<(int Pid, int Tid), long> _lapStart = [];

    /// <summary>
    /// JIT-thread CPU seconds since the previous lap (the first counts all they have used), and starts the next: one
    /// read of /proc ends one lap and begins the next. A thread that started in the lap counts whole; one that ended is lost.
    /// </summary>
    public double Lap()
    {
        var now = Read();
        long ticks = 0;
        foreach (var (thread, total) in now) ticks += total - _lapStart.GetValueOrDefault(thread);
        _lapStart = now;
        return ticks / ProcStats.ClockTicksPerSecond;
    }

    private Dictionary<(int Pid, int Tid), long> Read()
    {
        var ticks = new Dictionary<(int Pid, int Tid), long>();
        foreach (int pid in includeSelf ? (int[])[Environment.ProcessId, serverPid] : [serverPid])
        {
            string[] tasks;
            try
            {
                tasks = Directory.GetDirectories($"/proc/{pid}/task");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // the server has exited; its run will fail on its own
            }

            foreach (string task in tasks)
            {
                try
                {
                    if (!File.ReadAllText(Path.Combine(task, "comm")).StartsWith(ThreadName, StringComparison.Ordinal)) continue;
                    int tid = int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture);
                    ticks[(pid, tid)] = ProcStats.CpuTicks(File.ReadAllText(Path.Combine(task, "stat")));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The thread ended between the listing and the read.
                }
            }
        }

        return ticks;
    }
}
