using System.Runtime.InteropServices;

namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// The Linux calls <see cref="SocketThreadTransport"/> (and the server's epoll transport) make on a socket's
/// descriptor: blittable stubs, no marshalling and no allocation per call. Constants are the generic Linux ABI values,
/// the same on x64 and arm64.
/// </summary>
internal static unsafe partial class LinuxSockets
{
    public const int MsgPeek = 0x2;
    public const int MsgDontWait = 0x40;
    public const int MsgNoSignal = 0x4000;

    public const int EIntr = 4;
    public const int EAgain = 11;

    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int ONonBlock = 0x800;

    private const string Libc = "libc";

    /// <summary>Whether this process can use these calls: Linux on x64 or arm64 (the ABI the constants are for).</summary>
    public static bool IsSupported { get; } =
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    [LibraryImport(Libc, EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    /// <summary>Clears <c>O_NONBLOCK</c>, so that <c>recv</c> and <c>send</c> without <see cref="MsgDontWait"/> wait.</summary>
    /// <returns>0, or the errno of the failed call.</returns>
    public static int MakeBlocking(int fd)
    {
        int flags = Fcntl(fd, FGetFl, 0);
        if (flags < 0) return Marshal.GetLastPInvokeError();
        if ((flags & ONonBlock) == 0) return 0;
        return Fcntl(fd, FSetFl, flags & ~ONonBlock) < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>Whether the descriptor is in non-blocking mode (for tests).</summary>
    public static bool IsNonBlocking(int fd) => (Fcntl(fd, FGetFl, 0) & ONonBlock) != 0;
}
