using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Worker;
using Xunit;

namespace Gearman.Tests.Unit.Worker;

/// <summary>Eager validation of options and registrations (no sockets: nothing connects before StartAsync).</summary>
[Trait("Category", "Unit")]
public sealed class GearmanWorkerArgumentTests
{
    private static readonly Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> Echo = (job, _) => ValueTask.FromResult(job.Workload);

    [Theory]
    [InlineData("")]
    [InlineData("host:notaport")]
    [InlineData("host:70000")]
    [InlineData("[::1")]
    public void An_invalid_server_address_is_rejected(string address)
        => Assert.Throws<ArgumentException>(() => new GearmanWorker(GearmanWorkerOptions.Default with { Servers = [address] }));

    [Fact]
    public void Settings_out_of_range_are_rejected()
    {
        var d = GearmanWorkerOptions.Default;
        Assert.Throws<ArgumentException>(() => new GearmanWorker(d with { Servers = [] }));
        Assert.Throws<ArgumentException>(() => new GearmanWorker(d with { ConnectTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => new GearmanWorker(d with { ReconnectDelay = TimeSpan.FromSeconds(2), MaxReconnectDelay = TimeSpan.FromSeconds(1) }));
        Assert.Throws<ArgumentException>(() => new GearmanWorker(d with { ShutdownTimeout = TimeSpan.FromSeconds(-2) }));
        Assert.Throws<ArgumentException>(() => new GearmanWorker(d with { MaxPacketSize = 0 }));
        Assert.Throws<ArgumentNullException>(() => new GearmanWorker(d with { LoggerFactory = null! }));
    }

    [Fact]
    public async Task Function_options_out_of_range_are_rejected()
    {
        await using var worker = new GearmanWorker();
        var d = GearmanFunctionOptions.Default;
        Assert.Throws<ArgumentException>(() => worker.AddFunction("f", Echo, d with { BoundedCapacity = 0 }));
        Assert.Throws<ArgumentException>(() => worker.AddFunction("f", Echo, d with { MaxDegreeOfParallelism = 0 }));
        Assert.Throws<ArgumentException>(() => worker.AddFunction("f", Echo, d with { Timeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => worker.AddFunction(string.Empty, Echo, d));
        Assert.Throws<ArgumentException>(() => worker.AddFunction("a\0b", Echo, d));
        Assert.Throws<ArgumentException>(() => worker.Jobs(["x", "x"], d));
        Assert.Throws<ArgumentException>(() => worker.Jobs(Array.Empty<string>(), d));
        Assert.Throws<ArgumentNullException>(() => worker.AddFunction("f", Echo, null!));

        // Unbounded parallelism is allowed; the capacity still bounds it.
        worker.AddFunction("g", Echo, d with { MaxDegreeOfParallelism = DataflowBlockOptions.Unbounded, BoundedCapacity = 4 });
    }

    [Fact]
    public async Task A_function_is_registered_once_per_worker()
    {
        await using var worker = new GearmanWorker();
        worker.AddFunction("f", Echo, GearmanFunctionOptions.Default);
        Assert.Throws<InvalidOperationException>(() => worker.AddFunction("f", Echo, GearmanFunctionOptions.Default));
        Assert.Throws<InvalidOperationException>(() => worker.Jobs(["g", "f"], GearmanFunctionOptions.Default));

        // The failed registration did not claim "g".
        worker.Jobs("g", GearmanFunctionOptions.Default);
    }

    [Fact]
    public async Task A_stopped_worker_accepts_no_registrations_and_cannot_start_again()
    {
        var worker = new GearmanWorker();
        var source = worker.Jobs("f", GearmanFunctionOptions.Default);
        await worker.StopAsync(TestContext.Current.CancellationToken);
        await worker.DisposeAsync(); // idempotent

        // A worker that never started still completes its sources, so linked pipelines finish.
        await source.Completion.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Throws<ObjectDisposedException>(() => worker.AddFunction("g", Echo, GearmanFunctionOptions.Default));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await worker.StartAsync(TestContext.Current.CancellationToken));
    }
}
