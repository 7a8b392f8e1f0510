using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;

namespace Gearman.Benchmarks.Micro;

/// <summary>
/// A minimal job server for client benchmarks, allocation-free after start so that the memory diagnoser sees only
/// the client: one blocking thread per connection answers OPTION_REQ, and answers every submit with a canned reply
/// (JOB_CREATED, <c>dataEvents</c> WORK_DATA packets and WORK_COMPLETE, all for handle <c>H:1</c>; the benchmark runs
/// one job at a time, so one handle serves).
/// </summary>
internal sealed class LoopbackJobServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly byte[] _reply;
    private readonly Thread _acceptThread;
    private readonly List<Socket> _sockets = [];

    private LoopbackJobServer(int dataEvents, int payloadSize)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        var payload = new byte[payloadSize];
        var reply = new List<byte>();
        reply.AddRange(Packet(PacketType.JobCreated, "H:1"u8, []));
        for (int i = 0; i < dataEvents; i++) reply.AddRange(Packet(PacketType.WorkData, "H:1"u8, payload));
        reply.AddRange(Packet(PacketType.WorkComplete, "H:1"u8, payload));
        _reply = [.. reply];
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "loopback job server" };
        _acceptThread.Start();
    }

    public int Port { get; }

    public string Address => $"127.0.0.1:{Port}";

    public static LoopbackJobServer Start(int dataEvents, int payloadSize) => new(dataEvents, payloadSize);

    public void Dispose()
    {
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var s in _sockets) s.Dispose();
        }
    }

    private static byte[] Packet(PacketType type, ReadOnlySpan<byte> handle, ReadOnlySpan<byte> data)
    {
        bool single = type is PacketType.JobCreated or PacketType.OptionRes;
        int body = handle.Length + (single ? 0 : 1 + data.Length);
        var bytes = new byte[PacketReader.HeaderLength + body];
        PacketWriter.WriteHeader(bytes, PacketMagic.Response, type, (uint)body);
        handle.CopyTo(bytes.AsSpan(PacketReader.HeaderLength));
        if (!single) data.CopyTo(bytes.AsSpan(PacketReader.HeaderLength + handle.Length + 1));
        return bytes;
    }

    private void AcceptLoop()
    {
        try
        {
            while (true)
            {
                var socket = _listener.AcceptSocket();
                socket.NoDelay = true;
                lock (_sockets) _sockets.Add(socket);
                new Thread(() => Serve(socket)) { IsBackground = true, Name = "loopback job server connection" }.Start();
            }
        }
        catch (SocketException)
        {
            // Stopped.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Serve(Socket socket)
    {
        var header = new byte[PacketReader.HeaderLength];
        var body = new byte[1 << 20];
        try
        {
            while (true)
            {
                if (!ReceiveExactly(socket, header)) return;
                var type = (PacketType)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
                int size = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
                if (size > body.Length) body = new byte[size];
                if (!ReceiveExactly(socket, body.AsSpan(0, size))) return;
                switch (type)
                {
                    case PacketType.OptionReq:
                        SendAll(socket, Packet(PacketType.OptionRes, body.AsSpan(0, size), []));
                        break;
                    case PacketType.SubmitJob or PacketType.SubmitJobHigh or PacketType.SubmitJobLow:
                        SendAll(socket, _reply);
                        break;
                    default:
                        throw new InvalidOperationException($"Unexpected {type}: {Encoding.ASCII.GetString(body, 0, size)}");
                }
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static bool ReceiveExactly(Socket socket, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = socket.Receive(buffer);
            if (n == 0) return false;
            buffer = buffer[n..];
        }

        return true;
    }

    private static void SendAll(Socket socket, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty) bytes = bytes[socket.Send(bytes)..];
    }
}
