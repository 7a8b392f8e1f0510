using System.Buffers.Binary;
using System.Net.Sockets;
using Gearman.Reactive.Protocol;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A bare loopback socket for socket-level tests (small receive buffers, reads in small chunks, resets), where
/// <see cref="RawGearmanConnection"/>'s buffered reader would hide what the server's sends look like.
/// </summary>
internal static class PlainSockets
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task<Socket> ConnectAsync(int port, int? receiveBuffer = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBuffer is { } size) socket.ReceiveBufferSize = size;
        using var timeout = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync("127.0.0.1", port, timeout.Token);
        return socket;
    }

    public static async Task SendAsync(Socket socket, ReadOnlyMemory<byte> bytes)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        while (!bytes.IsEmpty)
        {
            int n = await socket.SendAsync(bytes, SocketFlags.None, timeout.Token);
            bytes = bytes[n..];
        }
    }

    public static async Task<int> ReceiveSomeAsync(Socket socket, Memory<byte> buffer)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        return await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
    }

    /// <summary>Fills <paramref name="buffer"/> in reads of at most <paramref name="chunk"/> bytes.</summary>
    public static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, int chunk)
    {
        while (!buffer.IsEmpty)
        {
            int n = await ReceiveSomeAsync(socket, buffer[..Math.Min(chunk, buffer.Length)]);
            if (n == 0) throw new EndOfStreamException("The server closed the connection inside a packet.");
            buffer = buffer[n..];
        }
    }

    /// <summary>Reads one response packet in reads of at most <paramref name="chunk"/> bytes.</summary>
    public static async Task<(PacketType Type, byte[] Body)> ReadPacketAsync(Socket socket, int chunk = 1 << 16)
    {
        var header = new byte[PacketReader.HeaderLength];
        await ReceiveExactlyAsync(socket, header, chunk);
        Xunit.Assert.Equal((uint)PacketMagic.Response, BinaryPrimitives.ReadUInt32BigEndian(header));
        var body = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8))];
        await ReceiveExactlyAsync(socket, body, chunk);
        return ((PacketType)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)), body);
    }
}
