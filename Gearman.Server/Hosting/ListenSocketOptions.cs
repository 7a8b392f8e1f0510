using System.Net.Sockets;

namespace Gearman.Server.Hosting;

/// <summary>
/// gearmand's <c>--keepalive*</c> and <c>--backlog</c> for a listening socket. Linux copies SO_KEEPALIVE and the
/// TCP_KEEP* values of a listening socket into every socket it accepts, so setting them once here covers both transports.
/// </summary>
internal static class ListenSocketOptions
{
    /// <summary>The listen queue length when <c>--backlog</c> is not given.</summary>
    public const int DefaultBacklog = 512;

    /// <summary>Applies the keep-alive settings of <paramref name="options"/> to <paramref name="socket"/> (before or after bind).</summary>
    public static void Apply(Socket socket, GearmanServerOptions options)
    {
        if (!options.KeepAlive) return;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        if (options.KeepAliveIdle is { } idle) socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, idle);
        if (options.KeepAliveInterval is { } interval) socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, interval);
        if (options.KeepAliveCount is { } count) socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, count);
    }
}
