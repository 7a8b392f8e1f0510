using System.Text;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Xunit;

namespace Gearman.Tests.Unit.MapReduce;

/// <summary>Eager validation of the map-reduce API (no sockets: nothing connects before a job is submitted or the worker starts).</summary>
[Trait("Category", "Unit")]
public sealed class MapReduceArgumentTests
{
    private static readonly Func<GearmanJob, CancellationToken, IAsyncEnumerable<ReadOnlyMemory<byte>>> Whole =
        (job, _) => new[] { job.Workload }.ToAsyncEnumerable();

    [Fact]
    public async Task AddMapper_rejects_invalid_arguments()
    {
        await using var worker = new GearmanWorker();
        var d = GearmanMapperOptions.Default;
        Assert.Throws<ArgumentException>(() => worker.AddMapper("", Whole, null, d));
        Assert.Throws<ArgumentNullException>(() => worker.AddMapper("m", null!, null, d));
        Assert.Throws<ArgumentNullException>(() => worker.AddMapper("m", Whole, null, null!));
        Assert.Throws<ArgumentException>(() => worker.AddMapper("m", Whole, null, d with { MaxReducerJobs = 0 }));
        Assert.Throws<ArgumentException>(() => worker.AddMapper("m", Whole, null, d with { ReducerTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => worker.AddMapper("m", Whole, null, d with { BoundedCapacity = 0 }));
        Assert.Throws<ArgumentException>(() => worker.AddMapper("m", Whole, null, d with { Timeout = TimeSpan.FromSeconds(-1) }));

        worker.AddMapper("m", Whole, null, d with { ReducerTimeout = Timeout.InfiniteTimeSpan });
        Assert.Throws<InvalidOperationException>(() => worker.AddMapper("m", Whole, null, d));
        Assert.Throws<InvalidOperationException>(() => worker.AddFunction("m", (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default));
    }

    [Fact]
    public async Task The_reduce_shorthands_reject_invalid_arguments_before_submitting()
    {
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = ["127.0.0.1:1"] });
        var payload = Encoding.UTF8.GetBytes("x");
        Assert.Throws<ArgumentException>(() => client.SubmitReduce("m", "", payload));
        Assert.Throws<ArgumentException>(() => client.SubmitReduce("", "r", payload));
        Assert.Throws<ArgumentException>(() => client.SubmitReduce("m", new string('r', 513), payload));
        Assert.Throws<ArgumentException>(() => client.ExecuteReduceAsync("m", "r", payload, new GearmanJobOptions { Priority = JobPriority.High }));
        Assert.Throws<ArgumentException>(() => client.ExecuteReduceAsync("m", "r", payload, new GearmanJobOptions { Background = true }));
        Assert.Throws<ArgumentException>(() => client.SubmitReduceBackgroundAsync("m", "r", payload, new GearmanJobOptions { RunAt = DateTimeOffset.UtcNow }));
        Assert.Throws<ArgumentNullException>(() => MapReduceClientExtensions.SubmitReduce(null!, "m", "r", payload));
    }
}
