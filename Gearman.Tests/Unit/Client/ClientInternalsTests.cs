using System.Buffers;
using System.Text;
using Gearman.Reactive.Client;
using Xunit;

namespace Gearman.Tests.Unit.Client;

/// <summary>Server selection, number parsing, submit validation and the per-consumer event queue; no sockets.</summary>
[Trait("Category", "Unit")]
public sealed class ClientInternalsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Fnv1a_is_the_standard_64_bit_hash()
    {
        // Reference values of FNV-1a 64: "" and "a".
        Assert.Equal(0xcbf29ce484222325UL, ServerSelector.Hash([]));
        Assert.Equal(0xaf63dc4c8601ec8cUL, ServerSelector.Hash("a"u8));
    }

    [Fact]
    public async Task A_unique_id_picks_the_same_server_whatever_the_order_of_the_list()
    {
        await using var forward = Client("h1:4730", "h2:4730", "h3:4730");
        await using var backward = Client("h3:4730", "h2:4730", "h1:4730");
        for (int i = 0; i < 200; i++)
        {
            ulong key = ServerSelector.KeyHash($"key-{i}");
            int a = ServerSelector.Next([.. forward.Sessions], key, 0, 0);
            int b = ServerSelector.Next([.. backward.Sessions], key, 0, 0);
            Assert.Equal(forward.Sessions[a].Name, backward.Sessions[b].Name);
        }
    }

    [Fact]
    public async Task Unique_ids_spread_over_servers_and_losing_one_moves_only_its_ids()
    {
        await using var client = Client("h1:4730", "h2:4730", "h3:4730");
        var sessions = client.Sessions.ToArray();
        var counts = new int[3];
        for (int i = 0; i < 3000; i++)
        {
            ulong key = ServerSelector.KeyHash($"job-{i}");
            int best = ServerSelector.Next(sessions, key, 0, 0);
            counts[best]++;
            int withoutFirst = ServerSelector.Next(sessions, key, 0, tried: 1UL);
            if (best != 0) Assert.Equal(best, withoutFirst);
            else Assert.NotEqual(0, withoutFirst);
        }

        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
    }

    [Fact]
    public async Task Jobs_without_unique_go_round_robin_skipping_tried_servers()
    {
        await using var client = Client("h1", "h2", "h3");
        var sessions = client.Sessions.ToArray();

        Assert.Equal(1, ServerSelector.Next(sessions, null, 1, 0));
        Assert.Equal(2, ServerSelector.Next(sessions, null, 1, 0b010));
        Assert.Equal(0, ServerSelector.Next(sessions, null, 1, 0b110));
        Assert.Equal(-1, ServerSelector.Next(sessions, null, 1, 0b111));
    }

    [Theory]
    [InlineData("42", 42)]
    [InlineData("0", 0)]
    [InlineData("  7x", 7)]
    [InlineData("abc", 0)]
    [InlineData("", 0)]
    [InlineData("-3", -3)]
    [InlineData("+5", 5)]
    [InlineData("99999999999999999999999", long.MaxValue)]
    public void Numbers_parse_as_gearmand_atoi(string text, long expected)
    {
        Assert.Equal(expected, ServerSession.ParseNumber(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text))));
    }

    [Fact]
    public void Numbers_split_across_segments_parse_too()
    {
        var first = new Segment("12"u8.ToArray());
        var last = first.Append("34"u8.ToArray());
        Assert.Equal(1234, ServerSession.ParseNumber(new ReadOnlySequence<byte>(first, 0, last, 2)));
    }

    [Fact]
    public void Foreground_jobs_with_a_unique_id_get_a_coalescing_key_others_do_not()
    {
        Assert.Null(SubmitRequest.Create("f", "x"u8.ToArray(), null).CoalescingKey);
        Assert.Null(SubmitRequest.Create("f", "x"u8.ToArray(), new GearmanJobOptions { Unique = "u", Background = true }).CoalescingKey);
        Assert.Equal("f\0u", SubmitRequest.Create("f", "x"u8.ToArray(), new GearmanJobOptions { Unique = "u" }).CoalescingKey);

        // "-" coalesces on the payload.
        var dashA = SubmitRequest.Create("f", "A"u8.ToArray(), new GearmanJobOptions { Unique = "-" }).CoalescingKey;
        var dashA2 = SubmitRequest.Create("f", "A"u8.ToArray(), new GearmanJobOptions { Unique = "-" }).CoalescingKey;
        var dashB = SubmitRequest.Create("f", "B"u8.ToArray(), new GearmanJobOptions { Unique = "-" }).CoalescingKey;
        Assert.Equal(dashA, dashA2);
        Assert.NotEqual(dashA, dashB);
    }

    [Fact]
    public async Task The_event_queue_keeps_order_through_growth_and_wrap_around()
    {
        var queue = new TaskEventQueue();
        var job = new JobHandle("s:1", "H:1");
        int written = 0, read = 0;
        for (int round = 0; round < 5; round++)
        {
            for (int i = 0; i < 3 + (round * 7); i++) Assert.True(queue.TryWrite(TaskEvent.ForStatus(job, written++, 0)));
            while (read < written - 2)
            {
                Assert.True(await queue.WaitToReadAsync(Ct));
                Assert.True(queue.TryRead(out var e));
                Assert.Equal(read++, e.Numerator);
            }
        }

        queue.TryComplete();
        while (queue.TryRead(out var e)) Assert.Equal(read++, e.Numerator);
        Assert.Equal(written, read);
        Assert.False(await queue.WaitToReadAsync(Ct));
    }

    [Fact]
    public async Task The_event_queue_delivers_queued_events_before_its_error_and_refuses_later_writes()
    {
        var queue = new TaskEventQueue();
        var job = new JobHandle("s:1", "H:1");
        var wait = queue.WaitToReadAsync(Ct);
        Assert.False(wait.IsCompleted);

        queue.TryWrite(TaskEvent.ForCreated(job));
        Assert.True(await wait);
        var failure = new InvalidOperationException("boom");
        Assert.True(queue.TryComplete(failure));
        Assert.False(queue.TryWrite(TaskEvent.ForCreated(job)));
        Assert.False(queue.TryComplete());

        Assert.True(await queue.WaitToReadAsync(Ct));
        Assert.True(queue.TryRead(out var created));
        Assert.Equal(TaskEventKind.Created, created.Kind);
        Assert.Same(failure, await Assert.ThrowsAsync<InvalidOperationException>(() => queue.WaitToReadAsync(Ct).AsTask()));
    }

    [Fact(Timeout = 30_000)]
    public async Task The_event_queue_rethrows_a_shared_error_with_its_original_stack_trace_to_every_consumer()
    {
        // Coalesced subscriptions complete with one exception instance; a plain rethrow would replace its stack trace.
        Exception failure;
        try
        {
            ThrowFromTheReadLoop();
            throw new InvalidOperationException("unreachable");
        }
        catch (InvalidOperationException ex)
        {
            failure = ex;
        }

        var queues = new[] { new TaskEventQueue(), new TaskEventQueue() };
        var waits = queues.Select(q => q.WaitToReadAsync(Ct).AsTask()).ToArray(); // waiting: the slow path
        Assert.All(waits, w => Assert.False(w.IsCompleted));
        foreach (var q in queues) q.TryComplete(failure);

        foreach (var wait in waits)
        {
            var caught = await Assert.ThrowsAsync<InvalidOperationException>(() => wait);
            Assert.Same(failure, caught);
            Assert.Contains(nameof(ThrowFromTheReadLoop), caught.StackTrace, StringComparison.Ordinal);
        }

        static void ThrowFromTheReadLoop() => throw new InvalidOperationException("lost");
    }

    [Fact]
    public async Task Waiting_on_the_event_queue_can_be_cancelled_and_release_drops_everything()
    {
        var queue = new TaskEventQueue();
        using var cts = new CancellationTokenSource();
        var wait = queue.WaitToReadAsync(cts.Token).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);

        queue.TryWrite(TaskEvent.ForCreated(new JobHandle("s:1", "H:1")));
        queue.Release();
        Assert.False(queue.TryRead(out _));
        Assert.False(queue.TryWrite(TaskEvent.ForCreated(new JobHandle("s:1", "H:1"))));
    }

    private static GearmanClient Client(params string[] servers) => new(GearmanClientOptions.Default with { Servers = servers });

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes) => Memory = bytes;

        public Segment Append(byte[] bytes)
        {
            var next = new Segment(bytes) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
