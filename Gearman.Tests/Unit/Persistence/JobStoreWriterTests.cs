using System.Threading.Channels;
using Gearman.Reactive;
using Gearman.Server.Persistence;
using Gearman.Server.Scheduling;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Gearman.Tests.Unit.Persistence;

/// <summary>The store writer on its own: group commit, failure reporting, fail-fast while down, deletes kept across a reconnect.</summary>
[Trait("Category", "Unit")]
public sealed class JobStoreWriterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly FunctionRecord Function = new("fn"u8.ToArray());

    [Fact]
    public async Task Operations_queued_during_a_commit_share_the_next_transaction()
    {
        var store = new ControllableJobStore();
        await using var run = WriterRun.Start(store);
        store.Hold();
        run.Writer.Add(NewJob(1));
        await store.WaitUntilAsync(s => s.Batches.Count == 1);

        for (int i = 2; i <= 101; i++) run.Writer.Add(NewJob(i));
        run.Writer.Delete(500);
        run.Writer.Delete(501);
        store.Release();

        var first = await run.NextAckAsync();
        var second = await run.NextAckAsync();
        Assert.Null(first.Error);
        Assert.Null(second.Error);
        Assert.Equal([1L], first.Jobs.Select(j => j.StoreId));
        Assert.Equal(Enumerable.Range(2, 100).Select(i => (long)i), second.Jobs.Select(j => j.StoreId));
        Assert.Equal(2, store.Batches.Count);
        Assert.Equal(100, store.Batches[1].Adds.Length);
        Assert.Equal([500L, 501L], store.Batches[1].Deletes);
        Assert.Equal(Enumerable.Range(1, 101).Select(i => (long)i), store.Rows.Select(r => r.Id));
    }

    [Fact]
    public async Task Stored_record_carries_every_field_of_the_job()
    {
        var store = new ControllableJobStore();
        await using var run = WriterRun.Start(store);
        var body = "uniqREDUCERpayload"u8.ToArray();
        var job = new Job(7, "H:x:7"u8.ToArray(), Function, body, new FieldSlice(0, 4), new FieldSlice(4, 7), new FieldSlice(11, 7), JobPriority.Low, background: true, epoch: 1234567890, sequence: 1)
        {
            StoreId = 42,
        };
        run.Writer.Add(job);
        Assert.Null((await run.NextAckAsync()).Error);

        var row = Assert.Single(store.Rows);
        Assert.Equal(42, row.Id);
        Assert.Equal("fn"u8.ToArray(), row.Function.ToArray());
        Assert.Equal("uniq"u8.ToArray(), row.Unique.ToArray());
        Assert.Equal("REDUCER"u8.ToArray(), row.Reducer.ToArray());
        Assert.Equal("payload"u8.ToArray(), row.Data.ToArray());
        Assert.Equal(JobPriority.Low, row.Priority);
        Assert.Equal(1234567890, row.Epoch);
    }

    [Fact]
    public async Task Retry_counts_set_while_the_store_is_down_are_kept_and_the_last_one_is_applied_after_the_reconnect()
    {
        var store = new ControllableJobStore();
        await using var run = WriterRun.Start(store);
        run.Writer.Add(NewJob(1));
        Assert.Null((await run.NextAckAsync()).Error);

        store.SetDown(true);
        run.Writer.SetRetries(1, 1);
        await store.WaitUntilAsync(s => s.Batches.Count == 2);
        run.Writer.SetRetries(1, 2);
        store.SetDown(false);

        await store.WaitUntilAsync(s => s.Rows.Single().Retries == 2);
        Assert.Equal(1, store.Rows.Single().Id);
    }

    [Fact]
    public async Task A_writer_started_unavailable_reconnects_then_posts_the_stored_jobs_for_replay_before_anything_else()
    {
        var store = new ControllableJobStore([new JobRecord(5, "fn"u8.ToArray(), "u"u8.ToArray(), Array.Empty<byte>(), "d"u8.ToArray(), JobPriority.Low, 0, retries: 3)]);
        store.SetDown(true);
        var writer = new JobStoreWriter(store, NullLogger.Instance);
        writer.StartUnavailable("down at start");
        Assert.Equal("down at start", writer.Unavailable);
        await using var run = WriterRun.Start(writer);

        await store.WaitUntilAsync(s => s.Opens >= 2);
        Assert.Empty(store.Batches);
        store.SetDown(false);

        var replay = await run.NextAckAsync();
        Assert.Empty(replay.Jobs);
        Assert.Null(replay.Error);
        var record = Assert.Single(replay.Replay!);
        Assert.Equal((5L, 3, JobPriority.Low), (record.Id, record.Retries, record.Priority));

        run.Writer.Add(NewJob(6));
        var added = await run.NextAckAsync();
        Assert.Null(added.Error);
        Assert.Null(added.Replay);
        Assert.Null(writer.Unavailable);
        Assert.Equal([5L, 6L], store.Rows.Select(r => r.Id));
    }

    [Fact]
    public async Task A_failed_commit_fails_its_adds_then_adds_fail_fast_and_deletes_wait_for_the_reconnect()
    {
        var store = new ControllableJobStore();
        await using var run = WriterRun.Start(store);

        // A durable job first, so that a delete of it can be queued while the store is down.
        run.Writer.Add(NewJob(1));
        Assert.Null((await run.NextAckAsync()).Error);

        store.SetDown(true);
        run.Writer.Add(NewJob(2));
        var failed = await run.NextAckAsync();
        Assert.Equal([2L], failed.Jobs.Select(j => j.StoreId));
        Assert.Contains("test store is down", failed.Error, StringComparison.Ordinal);
        int attempts = store.Batches.Count;

        // Down: adds are answered at once without touching the store; deletes are kept.
        run.Writer.Delete(1);
        run.Writer.Add(NewJob(3));
        var fast = await run.NextAckAsync();
        Assert.Equal([3L], fast.Jobs.Select(j => j.StoreId));
        Assert.Contains("unavailable", fast.Error, StringComparison.Ordinal);
        Assert.Equal(attempts, store.Batches.Count);

        // Reconnect attempts (after 100 ms, then backing off) fail while the store stays down, and apply nothing.
        await store.WaitUntilAsync(s => s.Opens >= 2);
        Assert.Equal(attempts, store.Batches.Count);

        store.SetDown(false);
        await store.WaitUntilAsync(s => s.Batches.Count > attempts);

        // First batch after the reconnect: the kept delete and the failed add's id (its commit may have happened after all).
        var catchUp = store.Batches[attempts];
        Assert.Empty(catchUp.Adds);
        Assert.Equal([1L, 2L], catchUp.Deletes.Order());
        Assert.Empty(store.Rows);

        run.Writer.Add(NewJob(4));
        var ok = await run.NextAckAsync();
        Assert.Null(ok.Error);
        Assert.Equal([4L], store.Rows.Select(r => r.Id));
    }

    [Fact]
    public async Task Completing_the_writer_applies_what_is_queued_then_ends()
    {
        var store = new ControllableJobStore();
        var run = WriterRun.Start(store);
        store.Hold();
        run.Writer.Add(NewJob(1));
        await store.WaitUntilAsync(s => s.Batches.Count == 1);
        run.Writer.Add(NewJob(2));
        run.Writer.Delete(1);
        run.Writer.Complete();
        store.Release();
        await run.Loop.WaitAsync(Timeout);
        Assert.Equal([2L], store.Rows.Select(r => r.Id));
        Assert.False(run.Writer.Add(NewJob(3)), "a completed writer refuses adds");
        await run.DisposeAsync();
    }

    private static Job NewJob(long storeId)
    {
        var body = System.Text.Encoding.ASCII.GetBytes($"u{storeId}d{storeId}");
        int uniqueLength = body.AsSpan().IndexOf((byte)'d');
        return new Job((uint)storeId, System.Text.Encoding.ASCII.GetBytes($"H:t:{storeId}"), Function, body, new FieldSlice(0, uniqueLength), default, new FieldSlice(uniqueLength, body.Length - uniqueLength), JobPriority.Normal, background: true, epoch: 0, sequence: storeId)
        {
            StoreId = storeId,
        };
    }

    /// <summary>A running writer whose acknowledgements land in a channel.</summary>
    private sealed class WriterRun : IAsyncDisposable
    {
        private readonly Channel<StoreAcknowledgement> _acks = Channel.CreateUnbounded<StoreAcknowledgement>();
        private readonly CancellationTokenSource _stop = new();

        private WriterRun(JobStoreWriter writer)
        {
            Writer = writer;
            Loop = Task.Run(() => writer.RunAsync(ack => _acks.Writer.WriteAsync(ack), _stop.Token));
        }

        public JobStoreWriter Writer { get; }

        public Task Loop { get; }

        public static WriterRun Start(IJobStore store) => new(new JobStoreWriter(store, NullLogger.Instance));

        public static WriterRun Start(JobStoreWriter writer) => new(writer);

        public async Task<StoreAcknowledgement> NextAckAsync() => await _acks.Reader.ReadAsync().AsTask().WaitAsync(Timeout);

        public async ValueTask DisposeAsync()
        {
            Writer.Complete();
            await _stop.CancelAsync();
            try
            {
                await Loop.WaitAsync(Timeout);
            }
            catch (OperationCanceledException)
            {
            }

            _stop.Dispose();
        }
    }
}
