using System.Globalization;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>Protocol steps shared by the conformance tests; every expectation is on exact bytes.</summary>
internal static class RawConnectionExtensions
{
    private static int _nextEcho;

    /// <summary>
    /// A barrier: ECHO_REQ with a fresh token, then the next packet must be its ECHO_RES. Both servers handle one
    /// connection's packets in order, so everything the server sent this connection before the echo has arrived, and
    /// nothing else was sent (a NOOP that should not exist would show up here instead of the ECHO_RES).
    /// </summary>
    public static async Task SyncAsync(this RawGearmanConnection connection)
    {
        string token = "sync-" + Interlocked.Increment(ref _nextEcho).ToString(CultureInfo.InvariantCulture);
        await connection.SendAsync(PacketType.EchoReq, token);
        var reply = await connection.ReadPacketAsync();
        Assert.True(reply.Type == (uint)PacketType.EchoRes && reply.BodyText == token, $"Expected ECHO_RES {token}, got {reply}");
    }

    /// <summary>
    /// Sends a packet, then an ECHO_REQ, and asserts that the server closes the connection without answering either
    /// (protocol.md §1.3: what a server does on input it cannot take).
    /// </summary>
    public static async Task AssertClosesWithoutReplyAsync(this RawGearmanConnection connection, PacketType type, params string[] fields)
    {
        await connection.SendAsync(type, fields);
        await connection.SendAsync(PacketType.EchoReq, "x");
        Assert.True(await connection.WaitForServerCloseAsync(), "the connection should close without a reply");
    }

    /// <summary>GET_STATUS <paramref name="handle"/>; the reply must be STATUS_RES with exactly <paramref name="body"/>.</summary>
    public static async Task AssertStatusAsync(this RawGearmanConnection connection, string handle, string body)
    {
        await connection.SendAsync(PacketType.GetStatus, handle);
        await connection.ExpectAsync(PacketType.StatusRes, body);
    }

    /// <summary>GET_STATUS_UNIQUE <paramref name="unique"/>; the reply must be STATUS_RES_UNIQUE with exactly <paramref name="body"/>.</summary>
    public static async Task AssertStatusUniqueAsync(this RawGearmanConnection connection, string unique, string body)
    {
        await connection.SendAsync(PacketType.GetStatusUnique, unique);
        await connection.ExpectAsync(PacketType.StatusResUnique, body);
    }

    /// <summary>Sends a submit packet and returns the handle from its JOB_CREATED.</summary>
    public static async Task<string> SubmitAsync(this RawGearmanConnection connection, PacketType type, string function, string unique, string data)
    {
        await connection.SendAsync(type, function, unique, data);
        return await connection.ExpectJobCreatedAsync();
    }

    /// <summary>SUBMIT_JOB (foreground, NORMAL).</summary>
    public static Task<string> SubmitAsync(this RawGearmanConnection connection, string function, string unique, string data)
        => connection.SubmitAsync(PacketType.SubmitJob, function, unique, data);

    /// <summary>SUBMIT_JOB_BG.</summary>
    public static Task<string> SubmitBackgroundAsync(this RawGearmanConnection connection, string function, string unique, string data)
        => connection.SubmitAsync(PacketType.SubmitJobBg, function, unique, data);

    /// <summary>SUBMIT_JOB_EPOCH <c>FUNC\0UNIQ\0EPOCH\0DATA</c>.</summary>
    public static async Task<string> SubmitEpochAsync(this RawGearmanConnection connection, string function, string unique, long epoch, string data)
    {
        await connection.SendAsync(PacketType.SubmitJobEpoch, function, unique, epoch.ToString(CultureInfo.InvariantCulture), data);
        return await connection.ExpectJobCreatedAsync();
    }

    /// <summary>SUBMIT_REDUCE_JOB[_BACKGROUND] <c>FUNC\0UNIQ\0REDUCER\0AGGREGATOR\0DATA</c> with an empty aggregator (protocol.md §1.2).</summary>
    public static async Task<string> SubmitReduceAsync(this RawGearmanConnection connection, string function, string unique, string reducer, string data, bool background = false)
    {
        await connection.SendAsync(background ? PacketType.SubmitReduceJobBackground : PacketType.SubmitReduceJob, function, unique, reducer, string.Empty, data);
        return await connection.ExpectJobCreatedAsync();
    }

    public static async Task<string> ExpectJobCreatedAsync(this RawGearmanConnection connection)
        => (await connection.ExpectPacketAsync(PacketType.JobCreated)).BodyText;

    /// <summary>Reads the next packet and asserts its type and exact body (NULs written as <c>\0</c> in <paramref name="body"/>).</summary>
    public static async Task<RawPacket> ExpectAsync(this RawGearmanConnection connection, PacketType type, string body)
    {
        var packet = await connection.ReadPacketAsync();
        Assert.True(packet.IsResponse, $"Expected response magic: {packet}");
        Assert.Equal(type.ToString(), packet.TypeName);
        Assert.Equal(RawPacket.Printable(Encoding.UTF8.GetBytes(body)), RawPacket.Printable(packet.Body));
        return packet;
    }

    /// <summary>Expects <c>ERROR CODE\0TEXT</c>.</summary>
    public static Task<RawPacket> ExpectErrorAsync(this RawGearmanConnection connection, string code, string text)
        => connection.ExpectAsync(PacketType.Error, code + "\0" + text);

    /// <summary>Expects an empty NOOP.</summary>
    public static Task<RawPacket> ExpectNoopAsync(this RawGearmanConnection connection, TimeSpan? timeout = null)
        => connection.ExpectTypeAsync(PacketType.Noop, string.Empty, timeout);

    /// <summary>CAN_DO <paramref name="function"/> then a barrier.</summary>
    public static async Task CanDoAsync(this RawGearmanConnection connection, string function)
    {
        await connection.SendAsync(PacketType.CanDo, function);
        await connection.SyncAsync();
    }

    /// <summary>PRE_SLEEP, then a barrier that also proves no NOOP came back (nothing runnable).</summary>
    public static async Task SleepAsync(this RawGearmanConnection connection)
    {
        await connection.SendAsync(PacketType.PreSleep);
        await connection.SyncAsync();
    }

    /// <summary>Sends a grab and returns the reply (NO_JOB or a JOB_ASSIGN*).</summary>
    public static async Task<RawPacket> GrabAsync(this RawGearmanConnection connection, PacketType grab = PacketType.GrabJob)
    {
        await connection.SendAsync(grab);
        var reply = await connection.ReadPacketAsync();
        Assert.True(reply.Type is (uint)PacketType.NoJob or (uint)PacketType.JobAssign or (uint)PacketType.JobAssignUniq or (uint)PacketType.JobAssignAll, $"Expected a grab reply, got {reply}");
        return reply;
    }

    /// <summary>Grabs and expects NO_JOB.</summary>
    public static async Task ExpectNoJobAsync(this RawGearmanConnection connection, PacketType grab = PacketType.GrabJob)
    {
        var reply = await connection.GrabAsync(grab);
        Assert.True(reply.Type == (uint)PacketType.NoJob, $"Expected NO_JOB, got {reply}");
    }

    /// <summary>GRAB_JOB and expect <c>JOB_ASSIGN H\0F\0DATA</c>.</summary>
    public static async Task GrabExpectAsync(this RawGearmanConnection connection, string handle, string function, string data)
    {
        var reply = await connection.GrabAsync();
        Assert.Equal($"JOB_ASSIGN {handle}\\0{function}\\0{RawPacket.Printable(Encoding.UTF8.GetBytes(data))}", Describe(reply));
    }

    /// <summary>Admin <c>status</c> row of one function (<c>FUNC\tTOTAL\tRUNNING\tWORKERS</c>), or null when it has none.</summary>
    public static async Task<string?> StatusOfAsync(this RawGearmanConnection connection, string function)
        => (await connection.AdminListAsync("status")).SingleOrDefault(l => l.StartsWith(function + "\t", StringComparison.Ordinal));

    /// <summary><c>TYPE body</c> with NULs as <c>\0</c>, for one-line assertions.</summary>
    public static string Describe(RawPacket packet) => $"{ToWireName(packet.TypeName)} {RawPacket.Printable(packet.Body)}";

    private static async Task<RawPacket> ExpectTypeAsync(this RawGearmanConnection connection, PacketType type, string body, TimeSpan? timeout)
    {
        var packet = await connection.ReadPacketAsync(timeout);
        Assert.Equal(type.ToString(), packet.TypeName);
        Assert.Equal(body, packet.BodyText);
        return packet;
    }

    private static string ToWireName(string typeName)
    {
        // JobAssignUniq → JOB_ASSIGN_UNIQ
        var sb = new StringBuilder();
        for (int i = 0; i < typeName.Length; i++)
        {
            if (i > 0 && char.IsUpper(typeName[i])) sb.Append('_');
            sb.Append(char.ToUpperInvariant(typeName[i]));
        }

        return sb.ToString();
    }
}
