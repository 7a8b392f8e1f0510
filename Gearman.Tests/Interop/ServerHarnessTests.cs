using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop;

/// <summary>The harness itself: a server starts on a free port, speaks binary and admin on one socket (protocol.md §1.1), and stops.</summary>
[Trait("Category", "Interop")]
public sealed class ServerHarnessTests
{
    [Theory]
    [BothServers]
    public async Task Echo_then_admin_then_echo_on_one_socket(ServerKind kind)
    {
        await using var server = await IServerUnderTest.StartAsync(kind, ct: TestContext.Current.CancellationToken);
        await using var conn = await RawGearmanConnection.ConnectAsync(server);

        await conn.SendAsync(PacketType.EchoReq, "ping");
        var echo = await conn.ExpectPacketAsync(PacketType.EchoRes);
        Assert.True(echo.IsResponse);
        Assert.Equal("ping", echo.BodyText);

        string version = await conn.AdminAsync("version");
        Assert.Matches(@"^OK \S+$", version);

        await conn.SendAsync(PacketType.EchoReq, string.Empty);
        Assert.Empty((await conn.ExpectPacketAsync(PacketType.EchoRes)).Body);
    }

    [Theory]
    [BothServers]
    public async Task Bad_magic_closes_the_connection_without_error(ServerKind kind)
    {
        // Spec §1.3: magic neither \0REQ nor \0RES → closed, no ERROR packet.
        await using var server = await IServerUnderTest.StartAsync(kind, ct: TestContext.Current.CancellationToken);
        await using var conn = await RawGearmanConnection.ConnectAsync(server);
        await conn.SendRawAsync("\0XYZ\0\0\0\x10\0\0\0\0"u8.ToArray(), TestContext.Current.CancellationToken);
        Assert.True(await conn.WaitForServerCloseAsync(), "the server should close the connection");
    }

    [Fact]
    public async Task Gearmand_process_is_reaped_on_dispose()
    {
        var server = await IServerUnderTest.StartAsync(ServerKind.Gearmand, ct: TestContext.Current.CancellationToken);
        int pid = server.ProcessId;
        await using (var conn = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Equal($"OK {pid}", await conn.AdminAsync("getpid"));
        }

        await server.DisposeAsync();
        Assert.False(Directory.Exists($"/proc/{pid}"), $"gearmand {pid} still exists after dispose");
    }
}
