using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;
using Xunit;

namespace Gearman.Tests.Unit.Connections;

/// <summary>
/// The SDK's outbox (no <c>flushNeeded</c> callback): sends that wake the write loop, sends written inline at the end of
/// a <see cref="PacketOutbox.SendInline"/> scope, and both at once from many threads over a transport that blocks.
/// </summary>
[Trait("Category", "Unit")]
public sealed class PacketOutboxTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 30_000)]
    public async Task A_scope_writes_its_packets_on_the_calling_thread_in_one_write_when_the_loop_is_idle()
    {
        var output = new RecordingWriter();
        using var outbox = new PacketOutbox(PacketMagic.Request);
        var loop = outbox.RunAsync(output, Ct);
        Assert.True(SpinWait.SpinUntil(() => outbox.IsWriterWaiting, TimeSpan.FromSeconds(10)), "the write loop never waited");

        using (PacketOutbox.SendInline())
        {
            Assert.True(outbox.Send(PacketType.WorkComplete, "H:1"u8, "r"u8));
            using (PacketOutbox.SendInline())
            {
                Assert.True(outbox.Send(PacketType.GrabJobAll));
            }

            Assert.Empty(output.Flushes); // a nested scope does not write: the outermost one does
        }

        var flush = Assert.Single(output.Flushes);
        Assert.Equal(Environment.CurrentManagedThreadId, flush.Thread);
        Assert.Equal([PacketType.WorkComplete, PacketType.GrabJobAll], Types(flush.Bytes));

        outbox.Complete();
        await loop.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task Sends_outside_a_scope_still_wake_the_write_loop()
    {
        var output = new RecordingWriter();
        using var outbox = new PacketOutbox(PacketMagic.Request);
        var loop = outbox.RunAsync(output, Ct);
        Assert.True(outbox.Send(PacketType.PreSleep));
        await output.FirstFlush.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal([PacketType.PreSleep], Types(Assert.Single(output.Flushes).Bytes));
        outbox.Complete();
        await loop.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact(Timeout = 60_000)]
    public async Task Many_threads_sending_inline_and_not_over_a_blocking_transport_lose_nothing_and_keep_each_senders_order()
    {
        const int threads = 8, perThread = 3_000;

        // A tiny pipe that the reader drains slowly: flushes often find it full and complete later, on another thread.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 256, resumeWriterThreshold: 128, useSynchronizationContext: false));
        using var outbox = new PacketOutbox(PacketMagic.Request);
        var loop = outbox.RunAsync(pipe.Writer, Ct);
        var received = ReadAllAsync(pipe.Reader, threads * perThread);

        using var start = new Barrier(threads);
        var senders = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait(Ct);
                Span<byte> body = stackalloc byte[5];
                for (int i = 0; i < perThread; i++)
                {
                    body[0] = (byte)t;
                    BinaryPrimitives.WriteInt32LittleEndian(body[1..], i);
                    switch (i % 3)
                    {
                        case 0:
                            Assert.True(outbox.Send(PacketType.EchoReq, body));
                            break;
                        case 1:
                            using (PacketOutbox.SendInline()) Assert.True(outbox.Send(PacketType.EchoReq, body));
                            break;
                        default:
                            // Two packets in one scope: the second is written with the first.
                            using (PacketOutbox.SendInline())
                            {
                                Assert.True(outbox.Send(PacketType.EchoReq, body));
                                if (++i < perThread)
                                {
                                    BinaryPrimitives.WriteInt32LittleEndian(body[1..], i);
                                    Assert.True(outbox.Send(PacketType.EchoReq, body));
                                }
                            }

                            break;
                    }
                }
            },
            Ct,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var bodies = await received.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var next = new int[threads];
        foreach (var body in bodies)
        {
            int t = body[0], seq = BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(1));
            Assert.Equal(next[t], seq);
            next[t]++;
        }

        Assert.All(next, n => Assert.Equal(perThread, n));
        outbox.Complete();
        await loop.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task An_inline_send_into_a_full_transport_returns_at_once_and_its_bytes_follow_when_the_reader_drains()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 64, resumeWriterThreshold: 32, useSynchronizationContext: false));
        using var outbox = new PacketOutbox(PacketMagic.Request);
        var loop = outbox.RunAsync(pipe.Writer, Ct);
        Assert.True(SpinWait.SpinUntil(() => outbox.IsWriterWaiting, TimeSpan.FromSeconds(10)), "the write loop never waited");

        // Nobody reads yet: the first inline write fills the pipe and its flush stays pending; the sender goes on.
        var payload = new byte[100];
        for (int i = 0; i < 10; i++)
        {
            payload[0] = (byte)i;
            using (PacketOutbox.SendInline()) Assert.True(outbox.Send(PacketType.EchoReq, payload));
        }

        var bodies = await ReadAllAsync(pipe.Reader, 10).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (byte)i), bodies.Select(b => b[0]));
        outbox.Complete();
        await loop.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task Above_its_high_water_mark_a_sender_waits_until_the_write_loop_takes_the_queue()
    {
        // A transport that takes nothing until the reader reads (pause at 1 byte): the loop's first flush blocks.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1, resumeWriterThreshold: 1, useSynchronizationContext: false));
        using var outbox = new PacketOutbox(PacketMagic.Request, highWaterMark: 1000);
        var loop = outbox.RunAsync(pipe.Writer, Ct);
        var payload = new byte[400];

        // Under the mark the wait completes synchronously; the first packet goes into the blocked flush.
        Assert.True(outbox.WaitForRoomAsync(Ct).IsCompletedSuccessfully);
        Assert.True(outbox.Send(PacketType.EchoReq, payload));
        Assert.True(SpinWait.SpinUntil(() => outbox.PendingBytes == 0, TimeSpan.FromSeconds(10)), "the loop never took the first packet");

        int sent = 1;
        ValueTask<SendTurn> room;
        while ((room = outbox.WaitForRoomAsync(Ct)).IsCompletedSuccessfully)
        {
            Assert.True(outbox.Send(PacketType.EchoReq, payload));
            sent++;
            Assert.True(sent < 10, "the sender never had to wait");
        }

        // Queued: at most the mark plus the packet that crossed it.
        Assert.InRange(outbox.PendingBytes, 1000, 1000 + 412);
        var waiting = room.AsTask();
        Assert.False(waiting.IsCompleted);

        // The reader drains: the loop takes the queue and the sender goes on.
        var drained = ReadAllAsync(pipe.Reader, sent);
        (await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Dispose();
        Assert.Equal(sent, (await drained.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Count);
        outbox.Complete();
        await loop.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task Completing_the_outbox_releases_waiting_senders_and_an_outbox_without_a_mark_never_waits()
    {
        using var outbox = new PacketOutbox(PacketMagic.Request, highWaterMark: 100);
        Assert.True(outbox.Send(PacketType.EchoReq, new byte[200])); // no write loop: the bytes stay queued
        var waiting = outbox.WaitForRoomAsync(Ct).AsTask();
        Assert.False(waiting.IsCompleted);
        outbox.Complete();
        await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.False(outbox.Send(PacketType.EchoReq, new byte[1]));

        using var unbounded = new PacketOutbox(PacketMagic.Response);
        for (int i = 0; i < 100; i++) unbounded.Send(PacketType.EchoRes, new byte[1000]);
        Assert.True(unbounded.WaitForRoomAsync(Ct).IsCompletedSuccessfully);
        Assert.Equal(0, unbounded.HighWaterMark);
    }

    [Fact(Timeout = 30_000)]
    public async Task Senders_that_waited_get_room_one_at_a_time_each_after_the_previous_one_has_sent()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1, resumeWriterThreshold: 1, useSynchronizationContext: false));
        using var outbox = new PacketOutbox(PacketMagic.Request, highWaterMark: 100);
        var loop = outbox.RunAsync(pipe.Writer, Ct);
        Assert.True(outbox.Send(PacketType.EchoReq, new byte[200])); // taken by the loop, whose flush then blocks
        Assert.True(SpinWait.SpinUntil(() => outbox.PendingBytes == 0, TimeSpan.FromSeconds(10)), "the loop never took the first packet");
        Assert.True(outbox.Send(PacketType.EchoReq, new byte[200])); // queued: over the mark

        var first = outbox.WaitForRoomAsync(Ct).AsTask();
        var second = outbox.WaitForRoomAsync(Ct).AsTask();
        var drained = ReadAllAsync(pipe.Reader, 3);

        // The drain lets the first in; the second still waits: the first has not queued its packet yet.
        using (await first.WaitAsync(TimeSpan.FromSeconds(10), Ct))
        {
            Assert.False(second.IsCompleted);
            Assert.True(outbox.Send(PacketType.EchoReq, new byte[200]));
        }

        // Its packet put the queue over the mark again: the second goes on only after the next drain.
        (await second.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Dispose();
        Assert.Equal(3, (await drained.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Count);
        outbox.Complete();
        await loop.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_waiting_sender_can_cancel()
    {
        using var outbox = new PacketOutbox(PacketMagic.Request, highWaterMark: 100);
        outbox.Send(PacketType.EchoReq, new byte[200]);
        using var cts = new CancellationTokenSource();
        var waiting = outbox.WaitForRoomAsync(cts.Token).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    private static PacketType[] Types(byte[] bytes)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        var types = new List<PacketType>();
        while (PacketReader.TryRead(ref buffer, uint.MaxValue, out var packet, out _) == PacketReadStatus.Packet) types.Add(packet.Type);
        Assert.True(buffer.IsEmpty, "a partial packet was written");
        return [.. types];
    }

    private static async Task<List<byte[]>> ReadAllAsync(PipeReader reader, int count)
    {
        var bodies = new List<byte[]>();
        while (bodies.Count < count)
        {
            var result = await reader.ReadAsync(Ct);
            var buffer = result.Buffer;
            while (PacketReader.TryRead(ref buffer, uint.MaxValue, out var packet, out _) == PacketReadStatus.Packet)
            {
                Assert.Equal(PacketType.EchoReq, packet.Type);
                bodies.Add(packet.Body.ToArray());
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) break;
        }

        return bodies;
    }

    /// <summary>A transport that records each flush: its bytes and the thread that made it.</summary>
    private sealed class RecordingWriter : PipeWriter
    {
        private readonly ArrayBufferWriter<byte> _buffer = new();
        private readonly TaskCompletionSource _firstFlush = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<(int Thread, byte[] Bytes)> Flushes { get; } = [];

        public Task FirstFlush => _firstFlush.Task;

        public override void Advance(int bytes) => _buffer.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => _buffer.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => _buffer.GetSpan(sizeHint);

        public override void CancelPendingFlush()
        {
        }

        public override void Complete(Exception? exception = null)
        {
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            lock (Flushes) Flushes.Add((Environment.CurrentManagedThreadId, _buffer.WrittenSpan.ToArray()));
            _buffer.ResetWrittenCount();
            _firstFlush.TrySetResult();
            return new(new FlushResult(isCanceled: false, isCompleted: false));
        }
    }
}
