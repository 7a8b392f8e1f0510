using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Tests.Integration.Client;
using Gearman.Tests.Integration.Worker;
using Xunit;
using static Gearman.Tests.Integration.MapReduce.MapReduceTestKit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.MapReduce;

/// <summary>
/// Map-reduce on the wire, against job servers played by the test: the reduce submit packets, a mapper's bounded fan-out
/// and ordered aggregation, and the connection a retried job closes.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MapReduceWireTests
{
    private static GearmanWorkerOptions WorkerOptions(ScriptedJobServer server) => server.WorkerOptions();

    [Fact(Timeout = 30_000)]
    public async Task The_reduce_shorthands_send_SUBMIT_REDUCE_JOB_with_four_fields_before_the_data()
    {
        await using var server = FakeJobServer.Start();
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server.Address] });

        var run = client.ExecuteReduceAsync("split", "count", Bytes("a b"), new GearmanJobOptions { Unique = "RU1" }, cancellationToken: Ct).AsTask();
        var c = await server.AcceptAndHandshakeAsync();
        Assert.Equal(["split", "RU1", "count", string.Empty, "a b"], await c.ExpectSubmitAsync(PacketType.SubmitReduceJob));
        await c.SendAsync(PacketType.JobCreated, "H:1");
        await c.SendAsync(PacketType.WorkComplete, "H:1", "2");
        Assert.Equal("2", Text(await run.Within()));

        var background = client.SubmitReduceBackgroundAsync("split", "count", Bytes("c"), cancellationToken: Ct).AsTask();
        var fields = await c.ExpectSubmitAsync(PacketType.SubmitReduceJobBackground);
        Assert.Equal(("split", "count", string.Empty, "c"), (fields[0], fields[2], fields[3], fields[4]));
        Assert.True(Guid.TryParse(fields[1], out _), "no unique given: a UUID is sent");
        await c.SendAsync(PacketType.JobCreated, "H:2");
        Assert.Equal("H:2", (await background.Within()).Handle);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_map_job_keeps_at_most_MaxReducerJobs_in_flight_and_twice_that_in_memory_and_aggregates_in_chunk_order()
    {
        await using var server = new ScriptedJobServer();
        await using var worker = new GearmanWorker(WorkerOptions(server));
        worker.AddMapper("map", SplitWords, Concatenate, GearmanMapperOptions.Default with { MaxReducerJobs = 2 });
        await worker.StartAsync(Ct);

        var w = await server.AcceptAsync();
        Assert.Equal(["map"], await w.ExpectAsync(PacketType.CanDo));
        await w.ExpectAsync(PacketType.GrabJobAll);
        await w.SendAsync(PacketType.JobAssignAll, "H:1", "map", "u-1", "red", "a b c d e");

        // The map job's private client: the handshake, then one plain SUBMIT_JOB of the reducer per chunk, with a UUID.
        var c = await server.AcceptAsync();
        Assert.Equal(["exceptions"], await c.ExpectAsync(PacketType.OptionReq));
        await c.SendAsync(PacketType.OptionRes, "exceptions");
        // The first two chunks go out at once, in either order; each reducer job is named after its chunk here.
        var firstTwo = new[] { await ExpectReducerSubmitAsync(c), await ExpectReducerSubmitAsync(c) };
        Assert.Equal(["a", "b"], firstTwo.Order());
        foreach (var chunk in firstTwo) await c.SendAsync(PacketType.JobCreated, $"H:{chunk}");

        // Two in flight: no third submit until one finishes. (A read cancelled by a timeout would lose bytes, so the
        // pending read is kept and becomes the next one.)
        var third = ExpectReducerSubmitAsync(c);
        Assert.NotSame(third, await Task.WhenAny(third, Task.Delay(300, Ct)));

        // Results arrive out of order; each one frees a slot for the next chunk.
        await c.SendAsync(PacketType.WorkComplete, "H:b", "B");
        Assert.Equal("c", await third);
        await c.SendAsync(PacketType.JobCreated, "H:c");
        await c.SendAsync(PacketType.WorkData, "H:c", "C1");
        await c.SendAsync(PacketType.WorkComplete, "H:c", "C2");
        Assert.Equal("d", await ExpectReducerSubmitAsync(c));
        await c.SendAsync(PacketType.JobCreated, "H:d");
        await c.SendAsync(PacketType.WorkComplete, "H:d", "D");

        // The window is full: b, c and d wait for a (results are released in chunk order), so e waits too. A map job
        // holds at most 2 x MaxReducerJobs chunks and results.
        var fifth = ExpectReducerSubmitAsync(c);
        Assert.NotSame(fifth, await Task.WhenAny(fifth, Task.Delay(300, Ct)));
        await c.SendAsync(PacketType.WorkComplete, "H:a", "A");
        Assert.Equal("e", await fifth);
        await c.SendAsync(PacketType.JobCreated, "H:e");
        await c.SendAsync(PacketType.WorkComplete, "H:e", "E");

        // Chunk order, whatever the completion order; a reducer's data chunks are part of its result.
        Assert.Equal(["H:1", "ABC1C2DE"], await w.ExpectAsync(PacketType.WorkComplete));
        Assert.True(await c.WaitForCloseAsync(), "the private client closes with the map job");
    }

    [Fact(Timeout = 30_000)]
    public async Task A_retried_job_sends_nothing_and_its_connection_closes_and_reconnects()
    {
        await using var server = new ScriptedJobServer();
        await using var worker = new GearmanWorker(WorkerOptions(server));
        int runs = 0;
        worker.AddFunction(
            "flaky",
            (job, _) => Interlocked.Increment(ref runs) == 1 ? throw new GearmanJobRetryException("not yet") : ValueTask.FromResult(job.Workload),
            GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);

        var first = await server.AcceptAsync();
        await first.ExpectAsync(PacketType.CanDo);
        await first.ExpectAsync(PacketType.GrabJobAll);
        await first.SendAsync(PacketType.JobAssignUniq, "H:1", "flaky", "u", "data");
        Assert.True(await first.WaitForCloseAsync(), "closing is how the server learns to requeue (libgearman's GEARMAN_ERROR)");

        // The server requeued the job; the worker registers again and gets it again.
        var second = await server.AcceptAsync();
        Assert.Equal(["flaky"], await second.ExpectAsync(PacketType.CanDo));
        await second.ExpectAsync(PacketType.GrabJobAll);
        await second.SendAsync(PacketType.JobAssignUniq, "H:1", "flaky", "u", "data");
        Assert.Equal(["H:1", "data"], await second.ExpectAsync(PacketType.WorkComplete));
        Assert.Equal(2, runs);
    }

    private static async Task<string> ExpectReducerSubmitAsync(ScriptedConnection c)
    {
        var fields = await c.ExpectAsync(PacketType.SubmitJob);
        Assert.Equal("red", fields[0]);
        Assert.True(Guid.TryParse(fields[1], out _), $"a UUID unique, got '{fields[1]}'");
        return fields[2];
    }
}
