using System.Runtime.InteropServices;

namespace Gearman.Server.Networking.Epoll;

/// <summary>
/// The few Linux calls the epoll transport makes, through blittable <see cref="LibraryImportAttribute"/> stubs (no
/// marshalling, no allocation per call). Constants are the generic Linux ABI values, the same on x64 and arm64. The
/// socket calls and errno values the SDK uses too (<c>recv</c>, <c>MSG_*</c>, <c>EINTR</c>, <c>EAGAIN</c>) are the SDK's
/// <see cref="Gearman.Reactive.Connections.Transports.LinuxSockets"/>.
/// </summary>
internal static unsafe partial class LinuxInterop
{
    public const int EpollCloexec = 0x80000;
    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const int EpollCtlMod = 3;
    public const uint EpollIn = 0x001;
    public const uint EpollOut = 0x004;
    public const uint EpollErr = 0x008;
    public const uint EpollHup = 0x010;

    public const int EventFdNonBlock = 0x800;
    public const int EventFdCloexec = 0x80000;

    public const int ShutRead = 0;
    public const int ShutReadWrite = 2;

    private const string Libc = "libc";

    /// <summary>
    /// Bytes per <c>struct epoll_event</c>: packed (12) on x64, naturally aligned (16) elsewhere; 0 where the transport
    /// is not supported.
    /// </summary>
    public static int EpollEventSize { get; } = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 12,
        Architecture.Arm64 => 16,
        _ => 0,
    };

    /// <summary>Where <c>data</c> sits in a <c>struct epoll_event</c>.</summary>
    public static int EpollDataOffset => EpollEventSize == 12 ? 4 : 8;

    /// <summary>Whether this process can run the epoll transport: Linux on x64 or arm64.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && EpollEventSize != 0;

    [LibraryImport(Libc, EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate(int flags);

    [LibraryImport(Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, byte* ev);

    [LibraryImport(Libc, EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    [LibraryImport(Libc, EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMessage(int fd, MessageHeader* message, int flags);

    [LibraryImport(Libc, EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint ReceiveMessage(int fd, MessageHeader* message, int flags);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Libc, EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    /// <summary>Adds, changes or removes <paramref name="fd"/>'s interest in <paramref name="epfd"/>; returns 0 or errno.</summary>
    public static int Control(int epfd, int op, int fd, uint events, ulong data)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + EpollDataOffset) = data;
        return EpollCtl(epfd, op, fd, ev) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }
}

/// <summary><c>struct iovec</c>: one piece of a gathered write or a scattered read.</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly unsafe struct IoVector(byte* start, nuint length)
{
    public readonly byte* Start = start;
    public readonly nuint Length = length;
}

/// <summary><c>struct msghdr</c> for <c>sendmsg</c> and <c>recvmsg</c> on a connected socket: no address, no control data.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MessageHeader
{
    public void* Name;
    public uint NameLength;
    public IoVector* Vectors;
    public nuint VectorCount;
    public void* Control;
    public nuint ControlLength;
    public int Flags;
}
