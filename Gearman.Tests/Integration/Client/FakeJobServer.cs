using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// A scripted job server on a loopback port: the test accepts each client connection, reads the packets the client
/// sends and writes whatever replies it wants, malformed ones included.
/// </summary>
internal sealed class FakeJobServer : ScriptedListener<FakeConnection>
{
    private FakeJobServer(int port)
        : base(port, socket => new FakeConnection(socket), TimeSpan.FromSeconds(10))
    {
    }

    public static FakeJobServer Start(int port = 0) => new(port);

    /// <summary>The next client connection, after answering its OPTION_REQ exceptions.</summary>
    public async Task<FakeConnection> AcceptAndHandshakeAsync()
    {
        var c = await AcceptAsync();
        var option = await c.ExpectAsync(PacketType.OptionReq);
        Assert.Equal("exceptions", option.BodyText);
        await c.SendAsync(PacketType.OptionRes, "exceptions");
        return c;
    }
}

/// <summary>One client connection to a <see cref="FakeJobServer"/>.</summary>
internal sealed class FakeConnection(Socket socket) : ScriptedPeerConnection(socket, 1u << 24, TimeSpan.FromSeconds(10), "client")
{
    /// <summary>Reads the next packet and checks its type.</summary>
    public async Task<RawPacket> ExpectAsync(PacketType type, TimeSpan? timeout = null)
    {
        var p = await ReadAsync(timeout);
        Assert.True(p.Type == (uint)type, $"Expected {type}, got {p}");
        return p;
    }

    /// <summary>Reads a submit packet; returns its fields as strings.</summary>
    public async Task<IReadOnlyList<string>> ExpectSubmitAsync(PacketType type = PacketType.SubmitJob)
        => (await ExpectAsync(type)).Strings();

    /// <summary>Answers a submit with JOB_CREATED <paramref name="handle"/> and at once WORK_COMPLETE with <paramref name="result"/>.</summary>
    public async Task CompleteJobAsync(string handle, string result)
    {
        await SendAsync(PacketType.JobCreated, handle);
        await SendAsync(PacketType.WorkComplete, handle, result);
    }

    /// <summary>Sends a response packet whose body is exactly <paramref name="body"/>.</summary>
    public Task SendBodyAsync(PacketType type, string body)
        => SendRawAsync(RawGearmanConnection.Encode(PacketMagic.Response, type, Encoding.UTF8.GetBytes(body)));

    /// <summary>Drops the connection at once (RST).</summary>
    public override void Abort()
    {
        try
        {
            Socket.Close(0);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Waits until the client closes its side.</summary>
    public async Task WaitForClientCloseAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var result = await Reader.ReadAsync(cts.Token);
            Reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return;
        }
    }

    protected override async ValueTask OnDisposeAsync()
    {
        try
        {
            await Reader.CompleteAsync();
        }
        catch (Exception)
        {
        }

        Abort();
    }
}
