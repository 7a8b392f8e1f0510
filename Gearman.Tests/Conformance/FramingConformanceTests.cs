using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>Framing, errors and options, byte for byte against gearmand (spec §1.1, §1.3, §2.9 options, §7 probes 1–4).</summary>
public sealed class FramingConformanceTests
{
    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Binary_and_text_interleave_on_one_socket(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();

        // One write holding ECHO_REQ, an admin line and ECHO_REQ: replies come back in order (spec §1.1).
        byte[] burst = [.. RawGearmanConnection.Encode(PacketType.EchoReq, "a\0b"), .. "status\n"u8.ToArray(), .. RawGearmanConnection.Encode(PacketType.EchoReq, string.Empty)];
        await c.SendRawAsync(burst, TestContext.Current.CancellationToken);
        await c.ExpectAsync(PacketType.EchoRes, "a\0b");
        Assert.Empty(await c.ReadListAsync());
        await c.ExpectAsync(PacketType.EchoRes, string.Empty);

        string version = await c.AdminAsync("version");
        Assert.StartsWith("OK 1.1.20", version, StringComparison.Ordinal);
        await c.SyncAsync();
    }

    [Theory]
    [InlineData(ServerKind.Gearmand, 0u)]
    [InlineData(ServerKind.Ours, 0u)]
    [InlineData(ServerKind.Gearmand, 43u)]
    [InlineData(ServerKind.Ours, 43u)]
    [InlineData(ServerKind.Gearmand, 1000u)]
    [InlineData(ServerKind.Ours, 1000u)]
    public async Task Type_outside_the_catalogue_closes_without_error(ServerKind kind, uint type)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        await c.SendRawAsync(Packet(Request, type, []), TestContext.Current.CancellationToken);
        Assert.True(await c.WaitForServerCloseAsync(), "the server should close the connection without a reply (spec §1.3)");
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Bad_magic_closes_without_error(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        await c.SendRawAsync(Packet("\0XYZ"u8.ToArray(), (uint)PacketType.EchoReq, "x"u8.ToArray()), TestContext.Current.CancellationToken);
        Assert.True(await c.WaitForServerCloseAsync(), "the server should close the connection without a reply (spec §1.3)");
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Response_magic_gets_INVALID_MAGIC_and_the_connection_stays_open(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        await c.SendAsync(PacketMagic.Response, PacketType.EchoReq, "x"u8.ToArray());
        await c.ExpectErrorAsync("INVALID_MAGIC", "Request magic expected");
        await c.SyncAsync();
    }

    [Theory]
    [MemberData(nameof(NotRequests))]
    public async Task Types_that_are_not_requests_get_INVALID_COMMAND_and_the_connection_stays_open(ServerKind kind, uint typeNumber)
    {
        var type = (PacketType)typeNumber;
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        if (type == PacketType.SubmitJobSched)
        {
            // Parsed with its 7 fields + data, then refused (spec §1.2 #35).
            await c.SendAsync(PacketType.SubmitJobSched, "f", "u", "1", "2", "3", "4", "5", "data");
        }
        else
        {
            // A well-formed body: gearmand waits for the NULs its layout needs before it looks at the type (spec §1.1).
            int fields = PacketLayout.Of(type).Fields;
            await c.SendAsync(type, [.. Enumerable.Range(0, fields).Select(i => "x" + i)]);
        }

        await c.ExpectErrorAsync("INVALID_COMMAND", "Command not expected");
        await c.SyncAsync();
    }

    public static TheoryData<ServerKind, uint> NotRequests()
    {
        var data = new TheoryData<ServerKind, uint>();
        PacketType[] types =
        [
            PacketType.Unused5, PacketType.Noop, PacketType.JobCreated, PacketType.NoJob, PacketType.JobAssign, PacketType.EchoRes,
            PacketType.Error, PacketType.StatusRes, PacketType.AllYours, PacketType.OptionRes, PacketType.JobAssignUniq,
            PacketType.SubmitJobSched, PacketType.JobAssignAll, PacketType.StatusResUnique,
        ];
        foreach (var type in types)
        {
            data.Add(ServerKind.Gearmand, (uint)type);
            data.Add(ServerKind.Ours, (uint)type);
        }

        return data;
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task OPTION_REQ_accepts_exceptions_in_any_case_and_echoes_the_name(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        await c.SendAsync(PacketType.OptionReq, "foo");
        await c.ExpectErrorAsync("UNKNOWN_OPTION", "Server does not recognize given option");
        await c.SendAsync(PacketType.OptionReq, "exceptions");
        await c.ExpectAsync(PacketType.OptionRes, "exceptions");
        await c.SendAsync(PacketType.OptionReq, "EXCEPTIONS");
        await c.ExpectAsync(PacketType.OptionRes, "EXCEPTIONS");
        await c.SyncAsync();
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Echo_of_binary_data_is_byte_identical(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        byte[] data = [.. Enumerable.Range(0, 256).Select(i => (byte)i), .. Enumerable.Range(0, 256).Select(i => (byte)(255 - i))];
        await c.SendAsync(PacketMagic.Request, PacketType.EchoReq, data);
        var reply = await c.ExpectPacketAsync(PacketType.EchoRes);
        Assert.True(reply.IsResponse);
        Assert.Equal(data, reply.Body);
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task SET_CLIENT_ID_has_no_reply_and_shows_in_workers(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        string id = "my worker " + TestNames.Unique("id");
        await c.SendAsync(PacketType.SetClientId, id);
        await c.SyncAsync();
        var workers = await s.AdminListAsync("workers");
        Assert.Contains(workers, l => l.EndsWith($" 127.0.0.1 {id} :", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Payload_of_a_command_without_arguments_is_ignored(ServerKind kind)
    {
        // §1.1: zero arguments and no data → the payload bytes are read and ignored.
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        await c.SendAsync(PacketType.GrabJob, "junk");
        await c.ExpectAsync(PacketType.NoJob, string.Empty);
        await c.SendAsync(PacketType.PreSleep, "junk");
        await c.SendAsync(PacketType.ResetAbilities, "junk");
        await c.SyncAsync();
    }

    [Theory]
    [InlineData(ServerKind.Gearmand, "99999999999999999999999")]
    [InlineData(ServerKind.Ours, "99999999999999999999999")]
    [InlineData(ServerKind.Gearmand, "10000000000000000")]
    [InlineData(ServerKind.Ours, "10000000000000000")]
    public async Task Epoch_that_overflows_or_lies_beyond_the_horizon_gets_an_ERROR_here(ServerKind kind, string epoch)
    {
        // A deliberate departure (docs/server.md). gearmand closes without a reply on an overflowing time (§1.3; an
        // internal error, deterministic with -t 1, which the harness uses) and accepts 10^16 (a timer that then spins);
        // we answer both with ERROR ARGUMENT_TOO_LARGE naming the 3650-day horizon, and the connection stays usable.
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        string fn = TestNames.Unique("ov");
        if (s.IsGearmand)
        {
            if (epoch.Length > 19) await c.AssertClosesWithoutReplyAsync(PacketType.SubmitJobEpoch, fn, "u", epoch, "d");
            else await c.SubmitEpochAsync(fn, "u", long.Parse(epoch, System.Globalization.CultureInfo.InvariantCulture), "d");
            return;
        }

        await c.SendAsync(PacketType.SubmitJobEpoch, fn, "u", epoch, "d");
        await c.ExpectErrorAsync("ARGUMENT_TOO_LARGE", "SUBMIT_JOB_EPOCH time must be a 64-bit number of Unix seconds at most 315360000 s (3650 days) ahead");
        await c.SyncAsync();
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Epoch_60_days_ahead_is_accepted_coalesces_and_waits(ServerKind kind)
    {
        // Past what one system timer can be armed for (about 49.7 days): the submit is answered, a resubmit coalesces,
        // and the job waits (and the server keeps answering).
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        string fn = TestNames.Unique("far");
        string unique = TestNames.Unique("F");
        long later = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + (long)TimeSpan.FromDays(60).TotalSeconds;
        string handle = await c.SubmitEpochAsync(fn, unique, later, "x");
        Assert.Equal(handle, await c.SubmitEpochAsync(fn, unique, later, "y"));
        var worker = await s.WorkerAsync(fn);
        await worker.ExpectNoJobAsync();
        await c.SyncAsync();
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task CAN_DO_TIMEOUT_longer_than_20_characters_closes_the_connection(ServerKind kind)
    {
        // §1.3. (A 20-character value that overflows `long` crashed gearmand 1.1.20 outright, so only ours is probed with it.)
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        await c.AssertClosesWithoutReplyAsync(PacketType.CanDoTimeout, TestNames.Unique("ov"), "123456789012345678901");
    }

    [Fact]
    public async Task Ours_closes_on_a_CAN_DO_TIMEOUT_that_overflows_long()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours);
        var c = await s.ConnectAsync();
        await c.AssertClosesWithoutReplyAsync(PacketType.CanDoTimeout, TestNames.Unique("ov"), "99999999999999999999");
    }

    [Fact]
    public async Task Ours_closes_on_a_packet_with_too_few_fields_in_its_declared_size()
    {
        // §1.1 BUG: gearmand searches past the declared size (a 2-field WORK_STATUS stalls it); ours closes.
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours);
        var c = await s.ConnectAsync();
        await c.AssertClosesWithoutReplyAsync(PacketType.WorkStatus, "H:x:1", "1");
    }

    [Fact]
    public async Task Ours_refuses_a_declared_size_above_the_maximum_packet_size()
    {
        // §1.3: gearmand has no maximum; ours answers ARGUMENT_TOO_LARGE and closes before allocating.
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours);
        var c = await s.ConnectAsync();
        byte[] header = Packet(Request, (uint)PacketType.EchoReq, []);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), 0xFFFFFFF0);
        await c.SendRawAsync(header, TestContext.Current.CancellationToken);
        var error = await c.ExpectPacketAsync(PacketType.Error);
        Assert.StartsWith("ARGUMENT_TOO_LARGE\0Packet of 4294967280 bytes", error.BodyText, StringComparison.Ordinal);
        Assert.True(await c.WaitForServerCloseAsync(), "the connection should close");
    }

    [Theory]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Admin_lines_up_to_8_KiB_are_answered_and_longer_ones_close(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        string word = new('x', 8190);
        Assert.Equal("ERR UNKNOWN_COMMAND Unknown+server+command" + word, await c.AdminAsync(word));
        await c.SendAdminAsync(new string('y', 9000));
        Assert.True(await c.WaitForServerCloseAsync(), "an admin line over 8 KiB should close the connection");
    }

    private static readonly byte[] Request = [0, (byte)'R', (byte)'E', (byte)'Q'];

    private static byte[] Packet(byte[] magic, uint type, byte[] body)
    {
        var bytes = new byte[12 + body.Length];
        magic.CopyTo(bytes, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), type);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), (uint)body.Length);
        body.CopyTo(bytes, 12);
        return bytes;
    }

}
