using System.Buffers.Binary;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// The client under bad input and slow peers: a protocol error stays the visible cause of a failed submit, an oversized
/// submit sends nothing, connect failures are logged once per reason, and a server that stops reading holds up
/// submits (bounded memory) instead of letting the queue grow.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClientSafetyTests
{
    [Theory(Timeout = 30_000)]
    [InlineData("bad magic")]
    [InlineData("oversized header")]
    public async Task A_protocol_error_from_the_server_is_the_message_and_inner_exception_of_the_failed_submit(string garbage)
    {
        await using var server = FakeJobServer.Start();
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address], MaxPacketSize = 1024 });

        var submit = client.ExecuteAsync("f", Bytes("x")).AsTask();
        var c = await server.AcceptAsync();
        byte[] header = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(header, garbage == "bad magic" ? 0x00585958u : (uint)PacketMagic.Response);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)PacketType.JobCreated);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), 1u << 20);
        await c.SendRawAsync(header);

        var error = await Assert.ThrowsAsync<GearmanConnectionException>(() => submit.WaitAsync(Wait, Ct));
        var cause = Assert.IsType<GearmanProtocolException>(error.InnerException);
        Assert.Contains(garbage == "bad magic" ? "bad magic" : "over the limit of 1024 bytes", cause.Message, StringComparison.Ordinal);
        Assert.Contains(cause.Message, error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_submit_over_MaxPacketSize_is_refused_and_sends_nothing()
    {
        await using var server = FakeJobServer.Start();
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address], MaxPacketSize = 4096 });

        Assert.Throws<ArgumentException>(() => client.Submit("f", new byte[8192]));
        var task = client.Submit("f", Bytes("small")).StartNow();
        var c = await server.AcceptAndHandshakeAsync();

        // The first submit on the wire is the small one: the refused one never left the client.
        Assert.Equal("small", (await c.ExpectSubmitAsync())[2]);
        await c.CompleteJobAsync("H:1", "ok");
        Assert.Equal("ok", Text((await task.EventsAsync())[^1].Data));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_failed_connect_is_logged_with_its_reason_once()
    {
        int port = LoopbackPorts.Unused();
        var logs = new CapturingLoggerFactory();
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [$"127.0.0.1:{port}"], LoggerFactory = logs });

        await Assert.ThrowsAsync<GearmanConnectionException>(() => client.ExecuteAsync("f", Bytes("x")).AsTask().WaitAsync(Wait, Ct));

        var entry = await logs.FirstAsync(2201).WaitAsync(Wait, Ct);
        Assert.Equal("ClientConnectFailed", entry.EventId.Name);
        Assert.Equal(1, Occurrences(entry.Message, "Could not connect"));
        Assert.Equal(1, Occurrences(entry.Message, $"127.0.0.1:{port}"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Submits_wait_while_the_server_does_not_read_and_all_complete_once_it_reads()
    {
        const int Jobs = 64;
        const int PayloadSize = 256 * 1024; // 16 MiB in all: far more than the socket buffers and the high-water mark
        await using var server = FakeJobServer.Start();
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address], ResponseTimeout = Timeout.InfiniteTimeSpan });

        var submits = Enumerable.Range(0, Jobs).Select(_ => client.SubmitBackgroundAsync("f", new byte[PayloadSize]).AsTask()).ToArray();
        var c = await server.AcceptAsync(); // and read nothing

        // The queue stops growing at the mark (plus the packets of the few threads that passed the check at once), with
        // most submits held up.
        Assert.True(SpinWait.SpinUntil(() => client.Sessions[0].CurrentConnection is not null, Wait), "the client never connected");
        var outbox = client.Sessions[0].CurrentConnection!.Outbox;
        long bound = GearmanConnection.SendHighWaterMark + (4L * (PayloadSize + 1024));
        Assert.True(SpinWait.SpinUntil(() => outbox.PendingBytes >= GearmanConnection.SendHighWaterMark, TimeSpan.FromSeconds(20)), "the queue never reached the mark");
        Assert.InRange(outbox.PendingBytes, 0, bound);
        Assert.True(submits.Count(s => !s.IsCompleted) > Jobs / 2, "the submits were not held up");

        // The server reads and acknowledges everything: every submit completes, and the queue never passed the bound.
        using var sampler = PeakSampler.Start(() => outbox.PendingBytes);
        await c.ExpectAsync(PacketType.OptionReq);
        await c.SendAsync(PacketType.OptionRes, "exceptions");
        for (int i = 0; i < Jobs; i++)
        {
            Assert.Equal(PayloadSize, (await c.ExpectAsync(PacketType.SubmitJobBg)).Strings()[2].Length);
            await c.SendAsync(PacketType.JobCreated, $"H:{i}");
        }

        var handles = await Task.WhenAll(submits).WaitAsync(Wait, Ct);
        Assert.Equal(Jobs, handles.Select(h => h.Handle).Distinct().Count());
        Assert.InRange(sampler.Peak, 0, bound);
    }

    private static int Occurrences(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }
}
