using System.Net;
using System.Net.Sockets;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Networking;

/// <summary>Listening sockets of our own accept loops (the epoll transport's, and the TLS listeners that serve it).</summary>
internal static class ListenSockets
{
    /// <summary>
    /// Binds and listens with the server's keep-alive and backlog settings (<see cref="ListenSocketOptions"/>); a failure
    /// is an <see cref="IOException"/>, as Kestrel reports it.
    /// </summary>
    public static Socket Bind(IPEndPoint endPoint, GearmanServerOptions options)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            ListenSocketOptions.Apply(socket, options);
            socket.Bind(endPoint);
            socket.Listen(options.Backlog ?? ListenSocketOptions.DefaultBacklog);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();

            // Kestrel reports bind failures as IOException too; the command line turns it into a message.
            throw new IOException($"Failed to bind to address {endPoint}: {ex.Message}", ex);
        }
    }

    /// <summary>The addresses a <c>--listen</c> value stands for; null: every address, IPv4 included (dual mode), like Kestrel's ListenAnyIP.</summary>
    public static IEnumerable<IPAddress> Addresses(string? listen)
    {
        if (listen is not null) return GearmanServer.ResolveListenAddresses(listen);
        return [Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any];
    }

    /// <summary>
    /// Accepts until <paramref name="stop"/> is cancelled or the listener is disposed, handing each socket to
    /// <paramref name="accepted"/>. Resets before accept are skipped; other failures (out of file descriptors) are
    /// logged, with a pause for the process to recover.
    /// </summary>
    public static async Task AcceptLoopAsync(Socket listener, Action<Socket> accepted, ILogger logger, CancellationToken stop)
    {
        string name = listener.LocalEndPoint?.ToString() ?? "?";
        while (!stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException
                || ex is SocketException { SocketErrorCode: SocketError.OperationAborted })
            {
                // Stopped, or the listening socket was closed under a pending accept (a drain closes it first).
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.Interrupted)
            {
                continue;
            }
            catch (SocketException ex)
            {
                ServerLog.AcceptFailed(logger, ex, name);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            accepted(socket);
        }
    }
}
