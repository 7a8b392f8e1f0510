using System.Collections.Concurrent;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Runtime.CompilerServices;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.MapReduce.MapReduceTestKit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.MapReduce;

/// <summary>
/// Our client, our mapper and our reducers through gearmand and through our server (both with <c>--exceptions</c>, as
/// gearmand's partition tests run): the outcomes of protocol.md §4.3 and §4.4, retries, and detaching on failure.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MapReduceTests
{
    private static readonly ServerStartOptions WithExceptions = MapReduceRig.WithExceptions;

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Words_are_reduced_and_concatenated_in_chunk_order(ServerKind kind)
    {
        var reduced = new ConcurrentQueue<string>();
        await using var rig = await MapReduceRig.StartWordsAsync(kind, reduced);

        var result = await rig.ReduceAsync(Sentence);

        // HEAD's order (chunk order); libgearman 1.1.20's own workers give "huntnotdoesdogthis" (see the interop tests).
        Assert.Equal("thisdogdoesnothunt", Text(result));
        Assert.Equal(["does", "dog", "hunt", "not", "this"], reduced.Order());
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_failing_reducer_job_fails_the_whole_job(ServerKind kind)
    {
        var reduced = new ConcurrentQueue<string>();
        await using var rig = await MapReduceRig.StartWordsAsync(kind, reduced);

        // The reducer's failure is the reason the client reads (libgearman would send a bare WORK_FAIL).
        var error = await Assert.ThrowsAsync<GearmanJobException>(() => rig.ReduceAsync(Sentence + " fail"));
        Assert.Equal(rig.Mapper, error.Function);
        string reason = Text(error.ExceptionData);
        Assert.Contains($"The {rig.Reducer} job for chunk 5 failed", reason, StringComparison.Ordinal);
        Assert.Contains("failed (WORK_FAIL)", reason, StringComparison.Ordinal);
        Assert.Contains("fail", reduced);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_reducer_exception_reaches_the_client_inside_the_map_jobs_exception(ServerKind kind)
    {
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_split", "mr_throwing", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, SplitWords, Concatenate, GearmanMapperOptions.Default);
            worker.AddFunction(
                reducer,
                (job, _) => Text(job.Workload) == "boom" ? throw new InvalidOperationException("reducer says no") : ValueTask.FromResult(job.Workload),
                Reducers());
        });

        var error = await Assert.ThrowsAsync<GearmanJobException>(() => rig.ReduceAsync("one boom two"));
        string reason = Text(error.ExceptionData);
        Assert.Contains($"The {rig.Reducer} job for chunk 1 failed", reason, StringComparison.Ordinal);
        Assert.Contains("reducer says no", reason, StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Without_SendExceptions_a_failing_reducer_job_fails_the_map_job_with_WORK_FAIL(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, MapReduceRig.WithExceptions, Ct);
        var (mapper, reducer) = (TestNames.Unique("mr_split"), TestNames.Unique("mr_echo"));
        await using var worker = new GearmanWorker(Options(server) with { SendExceptions = false });
        worker.AddMapper(mapper, SplitWords, Concatenate, GearmanMapperOptions.Default);
        worker.AddFunction(reducer, EchoOrReact(new ConcurrentQueue<string>()), Reducers());
        await worker.StartAsync(Ct);
        await using var client = NewClient(server);

        var error = await Assert.ThrowsAsync<GearmanJobFailedException>(
            () => client.ExecuteReduceAsync(mapper, reducer, Bytes("a fail"), cancellationToken: Ct).AsTask().Within());
        Assert.Equal(mapper, error.Function);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_throwing_mapper_is_an_exception_for_the_client(ServerKind kind)
    {
        await using var rig = await MapReduceRig.StartWordsAsync(kind);

        var error = await Assert.ThrowsAsync<GearmanJobException>(() => rig.ReduceAsync(Sentence + " mapper_fail"));
        Assert.Equal("Error occurred on purpose", Text(error.ExceptionData));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_mapper_that_fails_its_job_gives_WORK_FAIL_and_emits_nothing_more(ServerKind kind)
    {
        bool resumed = false;
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_failing", "mr_echo", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, FailAfterOneChunk, Concatenate, GearmanMapperOptions.Default);
            worker.AddFunction(reducer, EchoOrReact(new ConcurrentQueue<string>()), Reducers());
        });

        await Assert.ThrowsAsync<GearmanJobFailedException>(() => rig.ReduceAsync("x"));
        Assert.False(resumed);

        async IAsyncEnumerable<ReadOnlyMemory<byte>> FailAfterOneChunk(GearmanJob job, [EnumeratorCancellation] CancellationToken ct)
        {
            yield return Bytes("one");
            await job.FailAsync(ct); // libgearman's GEARMAN_FAIL
            yield return Bytes("two"); // not taken: the job has ended
            resumed = true;
        }
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Without_a_reducer_the_mapper_runs_as_an_ordinary_function(ServerKind kind)
    {
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_split", "mr_unused", (worker, mapper, _) => worker.AddMapper(mapper, SplitWords, Concatenate, GearmanMapperOptions.Default));
        var (client, mapper) = (rig.Client, rig.Mapper);

        // Every chunk is a WORK_DATA packet, then an empty WORK_COMPLETE; the aggregator is not involved.
        var events = await client.Submit(mapper, Bytes(Sentence)).ToList().ToTask(Ct).Within();
        Assert.Equal(
            ["Created ", "Data this", "Data dog", "Data does", "Data not", "Data hunt", "Completed "],
            events.Select(e => $"{e.Kind} {(e.Kind == TaskEventKind.Created ? string.Empty : Text(e.Data))}"));
        Assert.Equal("thisdogdoesnothunt", Text(await client.ExecuteAsync(mapper, Bytes(Sentence), cancellationToken: Ct).AsTask().Within()));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Without_an_aggregator_the_job_completes_empty_once_every_reducer_job_has(ServerKind kind)
    {
        var reduced = new ConcurrentQueue<string>();

        // gearmand's no-aggregator case: a mapper that emits its whole workload as one chunk, reduced by "count".
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_whole", "mr_count", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, (job, _) => new[] { job.Workload }.ToAsyncEnumerable(), aggregator: null, GearmanMapperOptions.Default);
            worker.AddFunction(reducer, EchoOrReact(reduced), Reducers());
        });

        var result = await rig.ReduceAsync(Sentence);
        Assert.True(result.IsEmpty);
        Assert.Equal([Sentence], reduced);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_retry_exception_makes_the_server_run_the_map_job_again(ServerKind kind)
    {
        int runs = 0;
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_retry", "mr_echo", (worker, mapper, reducer) =>
        {
            worker.AddMapper(
                mapper,
                (job, ct) => Interlocked.Increment(ref runs) == 1 ? throw new GearmanJobRetryException("database busy") : SplitWords(job, ct),
                Concatenate,
                GearmanMapperOptions.Default);
            worker.AddFunction(reducer, EchoOrReact(new ConcurrentQueue<string>()), Reducers());
        });

        var result = await rig.ReduceAsync(Sentence);
        Assert.Equal("thisdogdoesnothunt", Text(result));
        Assert.Equal(2, runs);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Retries_end_with_WORK_FAIL_at_the_servers_job_retries_limit(ServerKind kind)
    {
        // -j 2: the job runs at most twice (protocol.md §2.11; 1.1.20 and HEAD agree for N > 0).
        int runs = 0;
        await using var rig = await MapReduceRig.StartAsync(
            kind,
            "mr_retry",
            "mr_echo",
            (worker, mapper, _) => worker.AddMapper(
                mapper,
                (_, _) =>
                {
                    Interlocked.Increment(ref runs);
                    throw new GearmanJobRetryException("always busy");
                },
                Concatenate,
                GearmanMapperOptions.Default),
            MapReduceRig.WithExceptions with { JobRetries = 2 });

        await Assert.ThrowsAsync<GearmanJobFailedException>(() => rig.ReduceAsync(Sentence));
        Assert.Equal(2, runs);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Once_a_reducer_job_fails_the_map_job_fails_without_waiting_for_the_others_and_the_mapper_stops(ServerKind kind)
    {
        const int chunks = 1000, parallelism = 4;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var othersRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var mapperCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int produced = 0, held = 0;
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_detach", "mr_hold", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, Produce, Concatenate, GearmanMapperOptions.Default with { MaxReducerJobs = parallelism });
            worker.AddFunction(
                reducer,
                async (job, ct) =>
                {
                    if (Text(job.Workload) == "fail")
                    {
                        // Fail once the other reducer jobs in flight are running: they are what the map job must not wait for.
                        await othersRunning.Task.WaitAsync(ct);
                        await job.FailAsync(ct);
                        return default;
                    }

                    if (Interlocked.Increment(ref held) == parallelism - 1) othersRunning.TrySetResult();
                    await release.Task.WaitAsync(ct);
                    return job.Workload;
                },
                Reducers(parallelism * 2));
        });

        try
        {
            await Assert.ThrowsAsync<GearmanJobException>(() => rig.ReduceAsync("go"));
            await mapperCancelled.Task.Within();
            Assert.Equal(parallelism - 1, Volatile.Read(ref held)); // those reducer jobs still run: detached, not awaited
            Assert.InRange(Volatile.Read(ref produced), parallelism, (parallelism * 2) + 2); // the mapper was not drained
        }
        finally
        {
            release.TrySetResult();
        }

        async IAsyncEnumerable<ReadOnlyMemory<byte>> Produce(GearmanJob job, [EnumeratorCancellation] CancellationToken ct)
        {
            await using var registration = ct.Register(() => mapperCancelled.TrySetResult());
            for (int i = 0; i < chunks; i++)
            {
                Interlocked.Increment(ref produced);
                yield return Bytes(i == parallelism - 1 ? "fail" : $"chunk{i}");
            }
        }
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_reducer_job_over_its_timeout_fails_the_map_job(ServerKind kind)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_slow", "mr_never", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, SplitWords, Concatenate, GearmanMapperOptions.Default with { ReducerTimeout = TimeSpan.FromMilliseconds(300) });
            worker.AddFunction(reducer, async (job, ct) =>
            {
                await release.Task.WaitAsync(ct);
                return job.Workload;
            }, Reducers());
        });

        try
        {
            var error = await Assert.ThrowsAsync<GearmanJobException>(() => rig.ReduceAsync(Sentence));
            Assert.Contains("did not finish within 300 ms", Text(error.ExceptionData), StringComparison.Ordinal);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_throwing_aggregator_is_an_exception_for_the_client(ServerKind kind)
    {
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_split", "mr_echo", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, SplitWords, (_, _) => throw new FormatException("cannot fold"), GearmanMapperOptions.Default);
            worker.AddFunction(reducer, EchoOrReact(new ConcurrentQueue<string>()), Reducers());
        });

        var error = await Assert.ThrowsAsync<GearmanJobException>(() => rig.ReduceAsync(Sentence));
        Assert.Equal("cannot fold", Text(error.ExceptionData));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task An_aggregator_that_stops_reading_early_still_waits_for_every_reducer_job(ServerKind kind)
    {
        var reduced = new ConcurrentQueue<string>();
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_first", "mr_echo", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, SplitWords, async (results, ct) => await results.FirstAsync(ct), GearmanMapperOptions.Default);
            worker.AddFunction(reducer, EchoOrReact(reduced), Reducers());
        });

        Assert.Equal("this", Text(await rig.ReduceAsync(Sentence)));
        Assert.Equal(5, reduced.Count);
        await Assert.ThrowsAsync<GearmanJobException>(() => rig.ReduceAsync("first fail"));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_mappers_status_reaches_the_client_and_its_chunks_do_not(ServerKind kind)
    {
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_status", "mr_echo", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, WithStatus, Concatenate, GearmanMapperOptions.Default);
            worker.AddFunction(reducer, EchoOrReact(new ConcurrentQueue<string>()), Reducers());
        });

        var events = await rig.Client.SubmitReduce(rig.Mapper, rig.Reducer, Bytes("a b")).ToList().ToTask(Ct).Within();
        Assert.Equal([TaskEventKind.Created, TaskEventKind.Status, TaskEventKind.Completed], events.Select(e => e.Kind));
        Assert.Equal((1L, 2L), (events[1].Numerator, events[1].Denominator));
        Assert.Equal("ab", Text(events[2].Data));

        static async IAsyncEnumerable<ReadOnlyMemory<byte>> WithStatus(GearmanJob job, [EnumeratorCancellation] CancellationToken ct)
        {
            await job.SendStatusAsync(1, 2, ct);
            foreach (var word in Text(job.Workload).Split(' ')) yield return Bytes(word);
        }
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_background_reduce_job_runs_its_fan_out(ServerKind kind)
    {
        var aggregated = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var rig = await MapReduceRig.StartAsync(kind, "mr_bg", "mr_echo", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, SplitWords, async (results, ct) =>
            {
                var value = await Concatenate(results, ct);
                aggregated.TrySetResult(Text(value));
                return value;
            }, GearmanMapperOptions.Default);
            worker.AddFunction(reducer, EchoOrReact(new ConcurrentQueue<string>()), Reducers());
        });

        var handle = await rig.Client.SubmitReduceBackgroundAsync(rig.Mapper, rig.Reducer, Bytes(Sentence), cancellationToken: Ct).AsTask().Within();
        Assert.NotEmpty(handle.Handle);
        Assert.Equal("thisdogdoesnothunt", await aggregated.Task.Within());
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_shared_reducer_client_serves_several_map_jobs_at_once(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, WithExceptions, Ct);
        var (mapper, reducer) = (TestNames.Unique("mr_shared"), TestNames.Unique("mr_echo"));
        await using var reducerClient = NewClient(server);
        await using var worker = new GearmanWorker(Options(server));
        worker.AddMapper(mapper, SplitWords, Concatenate, GearmanMapperOptions.Default with { BoundedCapacity = 4, ReducerClient = reducerClient });
        worker.AddFunction(reducer, EchoOrReact(new ConcurrentQueue<string>()), Reducers(8));
        await worker.StartAsync(Ct);
        await using var client = NewClient(server);

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => client.ExecuteReduceAsync(mapper, reducer, Bytes($"job {i} of eight"), cancellationToken: Ct).AsTask())).Within();
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"job{i}ofeight"), results.Select(r => Text(r)));
    }
}
