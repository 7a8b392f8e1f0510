using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Gearman.Benchmarks.Throughput;

/// <summary>CPU time and resident memory of a process, from /proc (Linux).</summary>
internal static class ProcStats
{
    private static readonly Lazy<double> ClockTicks = new(ReadClockTicks);

    /// <summary>User plus system CPU seconds used so far (fields 14 and 15 of /proc/PID/stat).</summary>
    public static double CpuSeconds(int pid) => CpuTicks(File.ReadAllText($"/proc/{pid}/stat")) / ClockTicks.Value;

    /// <summary>The clock ticks per second that /proc counts CPU time in.</summary>
    public static double ClockTicksPerSecond => ClockTicks.Value;

    /// <summary>utime + stime, in clock ticks, of the text of a /proc stat file (a process's or a thread's).</summary>
    public static long CpuTicks(string stat)
    {
        // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Voluntary plus involuntary context switches of this process so far, ended threads included (<c>getrusage</c>;
    /// /proc/self/task only lists live threads, so a connection closed in the window would take its reader's switches
    /// with it).
    /// </summary>
    public static long SelfContextSwitches()
    {
        // struct rusage on 64-bit Linux: two timevals, then 14 longs; ru_nvcsw and ru_nivcsw are the last two.
        var usage = new long[18];
        if (GetRusage(0, usage) != 0) throw new InvalidOperationException($"getrusage failed: {Marshal.GetLastPInvokeError()}");
        return usage[16] + usage[17];
    }

    [DllImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static extern int GetRusage(int who, [Out] long[] usage);

    /// <summary>Resident set size now (<c>VmRSS</c>) and at its peak (<c>VmHWM</c>), in bytes.</summary>
    public static (long Rss, long Peak) Memory(int pid)
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kilobytes(line);
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kilobytes(line);
        }

        return (rss, peak);
    }

    private static long Kilobytes(string line)
        => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

    private static double ReadClockTicks()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true, UseShellExecute = false })!;
            string text = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return double.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out double ticks) && ticks > 0 ? ticks : 100;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return 100;
        }
    }
}
