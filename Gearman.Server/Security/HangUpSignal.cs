using System.Globalization;
using System.Runtime.InteropServices;

namespace Gearman.Server.Security;

/// <summary>
/// SIGHUP's disposition at start. A process started under <c>nohup</c> (or by a parent that ignores SIGHUP) inherits
/// SIGHUP ignored, and .NET then leaves it ignored even when a <see cref="PosixSignalRegistration"/> asks for it, so
/// the reload signal would do nothing. The server wants SIGHUP as its reload signal either way (a reload never ends
/// the process, which is all nohup asks for), so it sets the default back before registering.
/// </summary>
internal static partial class HangUpSignal
{
    private const int SigHup = 1;

    /// <summary>If SIGHUP is ignored by this process, sets it back to the default so that .NET's registration takes it; returns whether it was ignored.</summary>
    public static bool UnignoreIfIgnored()
    {
        if (!OperatingSystem.IsLinux() || !IsIgnored()) return false;

        // Between this call and the registration right after it a SIGHUP would end the process: a window of microseconds at start.
        Signal(SigHup, 0);
        return true;
    }

    /// <summary>Whether SIGHUP is in the <c>SigIgn</c> mask of /proc/self/status.</summary>
    internal static bool IsIgnored()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith("SigIgn:", StringComparison.Ordinal)) continue;
                return ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong mask) && (mask & (1UL << (SigHup - 1))) != 0;
            }
        }
        catch (IOException)
        {
        }

        return false;
    }

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint Signal(int signal, nint handler);
}
