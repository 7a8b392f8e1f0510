using System.Collections.Concurrent;
using System.Globalization;
using Gearman.Reactive;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.MapReduce;
using Xunit;
using static Gearman.Tests.Integration.MapReduce.MapReduceTestKit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Interop.MapReduce;

/// <summary>
/// gearmand's partition tests (protocol.md §4.4) with libgearman on one side and the SDK on the other, through gearmand and
/// through our server, both started with <c>--exceptions</c> as gearmand's tests run. The libgearman peers are
/// Programs/partition_client.c (<c>gearman_execute_by_partition</c>) and Programs/partition_worker.c
/// (<c>split_worker</c> with <c>cat_aggregator_fn</c>, <c>echo_or_react_worker_v2</c>, <c>count</c>).
/// </summary>
[Trait("Category", "Interop")]
public sealed class PartitionInteropTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(30);
    private static readonly ServerStartOptions WithExceptions = MapReduceRig.WithExceptions;

    [Theory(Timeout = 90_000)]
    [BothServers]
    public async Task A_libgearman_client_gets_the_expected_outcomes_from_our_mapper(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, WithExceptions, Ct);
        var (split, echo, whole, count) = (TestNames.Unique("p_split"), TestNames.Unique("p_echo"), TestNames.Unique("p_whole"), TestNames.Unique("p_count"));

        // Our mappers; libgearman reducers.
        await using var worker = new GearmanWorker(Options(server));
        worker.AddMapper(split, SplitWords, Concatenate, GearmanMapperOptions.Default);
        worker.AddMapper(whole, (job, _) => new[] { job.Workload }.ToAsyncEnumerable(), aggregator: null, GearmanMapperOptions.Default);
        await worker.StartAsync(Ct);
        await using var echoWorker = await StartWorkerAsync(server, "echo", echo);
        await using var countWorker = await StartWorkerAsync(server, "count", count);

        // Our mapper submits and aggregates in chunk order (HEAD's order).
        Assert.Equal(["ret GEARMAN_SUCCESS", "result thisdogdoesnothunt"], await RunClientAsync(server, "partition", split, echo, Sentence));
        Assert.Equal(["ret GEARMAN_WORK_EXCEPTION", "result NULL"], await RunClientAsync(server, "partition", split, echo, Sentence + " mapper_fail"));
        // A failed reducer job: our mapper sends WORK_EXCEPTION with the reducer's failure (libgearman's own mapper a bare
        // WORK_FAIL, below), or WORK_FAIL as libgearman does when the worker sends no exceptions.
        Assert.Equal(["ret GEARMAN_WORK_EXCEPTION", "result NULL"], await RunClientAsync(server, "partition", split, echo, Sentence + " fail"));
        string plainSplit = TestNames.Unique("p_split_plain");
        await using (var plain = new GearmanWorker(Options(server) with { SendExceptions = false }))
        {
            plain.AddMapper(plainSplit, SplitWords, Concatenate, GearmanMapperOptions.Default);
            await plain.StartAsync(Ct);
            Assert.Equal(["ret GEARMAN_WORK_FAIL", "result NULL"], await RunClientAsync(server, "partition", plainSplit, echo, Sentence + " fail"));
        }
        await echoWorker.WaitForLineAsync(l => l == $"job {echo} fail", RunTimeout, Ct);

        // A plain job: the words come back as WORK_DATA.
        Assert.Equal(["ret GEARMAN_SUCCESS", "result thisdogdoesnothunt"], await RunClientAsync(server, "execute", split, Sentence));

        // No aggregator: success and no result; "count" received the whole sentence as one reducer job.
        Assert.Equal(["ret GEARMAN_SUCCESS", "result NULL"], await RunClientAsync(server, "partition", whole, count, Sentence));
        Assert.Equal([$"job {count} {Sentence}"], await Lines(countWorker, 1));

        // Argument checks that never reach a server.
        Assert.Equal(["null-client NULL", "no-mapper NULL"], await RunClientAsync(server, "check", split, echo));
    }

    [Theory(Timeout = 90_000)]
    [BothServers]
    public async Task Our_client_gets_the_expected_outcomes_from_a_libgearman_partition_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, WithExceptions, Ct);
        var (split, echo, count) = (TestNames.Unique("p_split"), TestNames.Unique("p_echo"), TestNames.Unique("p_count"));
        await using var splitWorker = await StartWorkerAsync(server, "split", split);
        await using var echoWorker = await StartWorkerAsync(server, "echo", echo);
        await using var countWorker = await StartWorkerAsync(server, "count", count);
        await using var client = NewClient(server);

        // libgearman 1.1.20 prepends each reducer task to its list, so it submits and aggregates newest-first (protocol.md §4.3).
        Assert.Equal("huntnotdoesdogthis", Text(await client.ExecuteReduceAsync(split, echo, Bytes(Sentence), cancellationToken: Ct).AsTask().Within()));
        Assert.Equal(["hunt", "not", "does", "dog", "this"], (await Lines(echoWorker, 5)).Select(l => l[$"job {echo} ".Length..]));

        var exception = await Assert.ThrowsAsync<GearmanJobException>(() => client.ExecuteReduceAsync(split, echo, Bytes(Sentence + " mapper_fail"), cancellationToken: Ct).AsTask().Within());
        Assert.Equal("Error occurred on purpose", Text(exception.ExceptionData));
        await Assert.ThrowsAsync<GearmanJobFailedException>(() => client.ExecuteReduceAsync(split, echo, Bytes(Sentence + " fail"), cancellationToken: Ct).AsTask().Within());

        // A plain job runs the partition function as an ordinary one: its chunks arrive as data, in order.
        Assert.Equal("thisdogdoesnothunt", Text(await client.ExecuteAsync(split, Bytes(Sentence), cancellationToken: Ct).AsTask().Within()));

        // A v2 function as mapper (no aggregator): success, empty result; "count" got the whole sentence.
        Assert.True((await client.ExecuteReduceAsync(echo, count, Bytes(Sentence), cancellationToken: Ct).AsTask().Within()).IsEmpty);
        Assert.Equal([$"job {count} {Sentence}"], await Lines(countWorker, 1));
    }

    [Theory(Timeout = 90_000)]
    [BothServers]
    public async Task Libgearman_on_both_sides_gives_gearmands_expected_outputs(ServerKind kind)
    {
        // The reference: what protocol.md §4.4 reproduced against gearmand 1.1.20, and what our server must give too.
        await using var server = await TestServers.StartAsync(kind, WithExceptions, Ct);
        var (split, echo, count) = (TestNames.Unique("p_split"), TestNames.Unique("p_echo"), TestNames.Unique("p_count"));
        await using var splitWorker = await StartWorkerAsync(server, "split", split);
        await using var echoWorker = await StartWorkerAsync(server, "echo", echo);
        await using var countWorker = await StartWorkerAsync(server, "count", count);

        Assert.Equal(["ret GEARMAN_SUCCESS", "result huntnotdoesdogthis"], await RunClientAsync(server, "partition", split, echo, Sentence));
        Assert.Equal(["ret GEARMAN_WORK_EXCEPTION", "result NULL"], await RunClientAsync(server, "partition", split, echo, Sentence + " mapper_fail"));
        Assert.Equal(["ret GEARMAN_WORK_FAIL", "result NULL"], await RunClientAsync(server, "partition", split, echo, Sentence + " fail"));
        Assert.Equal(["ret GEARMAN_SUCCESS", "result thisdogdoesnothunt"], await RunClientAsync(server, "execute", split, Sentence));
        Assert.Equal(["ret GEARMAN_SUCCESS", "result NULL"], await RunClientAsync(server, "partition", echo, count, Sentence));

        // All six reducer jobs of the "fail" run ran, newest first; the mapper_fail run submitted none.
        var reduced = (await Lines(echoWorker, 12)).Select(l => l[$"job {echo} ".Length..]).ToArray();
        Assert.Equal(["hunt", "not", "does", "dog", "this", "fail", "hunt", "not", "does", "dog", "this", Sentence], reduced);
    }

    [Theory(Timeout = 90_000)]
    [BothServers]
    public async Task Our_mapper_fans_out_to_libgearman_reducers_alongside_ours(ServerKind kind)
    {
        // Two reducer workers for one function, one libgearman and one ours: every chunk is reduced once, in order.
        var ours = new ConcurrentQueue<string>();
        await using var rig = await MapReduceRig.StartAsync(kind, "p_map", "p_echo", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, SplitWords, Concatenate, GearmanMapperOptions.Default with { MaxReducerJobs = 4 });
            worker.AddFunction(reducer, EchoOrReact(ours), Reducers(1));
        });
        string reducer = rig.Reducer;
        await using var theirs = await StartWorkerAsync(rig.Server, "echo", reducer, expectedWorkers: 2);

        var words = Enumerable.Range(0, 200).Select(i => $"w{i.ToString(CultureInfo.InvariantCulture)}").ToArray();
        var result = await rig.ReduceAsync(string.Join(' ', words));

        Assert.Equal(string.Concat(words), Text(result));
        var byLibgearman = (await Lines(theirs, words.Length - ours.Count)).Select(l => l[$"job {reducer} ".Length..]);
        Assert.Equal(words.Order(), ours.Concat(byLibgearman).Order());
    }

    private static async Task<ExternalProgram> StartWorkerAsync(IServerUnderTest server, string role, string function, int expectedWorkers = 1)
    {
        var worker = ExternalProgram.Start(await CPrograms.GetAsync("partition_worker"), [server.Host, Port(server), role, function]);
        try
        {
            await AdminProbe.WaitForWorkersAsync(server, function, expectedWorkers, ct: Ct);
        }
        catch (TimeoutException ex)
        {
            string transcript = worker.Transcript();
            await worker.DisposeAsync();
            throw new TimeoutException($"{ex.Message}\n{transcript}", ex);
        }

        return worker;
    }

    private static async Task<IReadOnlyList<string>> RunClientAsync(IServerUnderTest server, params string[] args)
    {
        await using var client = ExternalProgram.Start(await CPrograms.GetAsync("partition_client"), [server.Host, Port(server), .. args]);
        int exit = await client.WaitForExitAsync(RunTimeout, Ct);
        Assert.True(exit == 0, client.Transcript());
        return client.OutputLines;
    }

    /// <summary>The first <paramref name="count"/> lines a peer printed (waiting for its output to be read).</summary>
    private static Task<IReadOnlyList<string>> Lines(ExternalProgram program, int count) => program.WaitForLinesAsync(_ => true, count, RunTimeout, Ct);

    private static string Port(IServerUnderTest server) => server.Port.ToString(CultureInfo.InvariantCulture);
}
