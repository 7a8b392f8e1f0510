using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Diagnostics;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Client;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Diagnostics;

/// <summary>
/// The SDK's spans through OpenTelemetry's in-memory exporter, and the opt-in trace-context envelope on the wire,
/// against gearmand and our server. Tests run in parallel in one process, so spans are picked by their unique function.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TracingTests(ClientServerFixture servers) : IClassFixture<ClientServerFixture>
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task With_the_envelope_the_worker_span_is_a_child_of_the_client_span(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string fn = TestNames.Unique("traced");
        using var spans = new Spans();
        Activity.Current = null; // nothing ambient: only the envelope can connect the two spans
        string server = sut.Address();
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> handler = async (job, ct) =>
        {
            seen.TrySetResult(Text(job.Workload));
            await job.SendStatusAsync(1, 2, ct);
            return Bytes("done");
        };

        // docs: tracing
        // Both sides opt in: the function accepts the envelope, the job carries this task's trace context in it.
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = [server] });
        worker.AddFunction(fn, handler, GearmanFunctionOptions.Default with { TraceContext = true });
        await worker.StartAsync();

        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] });
        var result = await client.ExecuteAsync(fn, Encoding.UTF8.GetBytes("hello"), new GearmanJobOptions { TraceContext = true });
        // end

        Assert.Equal("done", Text(result));
        Assert.Equal("hello", await seen.Task.Within()); // the handler sees the payload without the envelope
        var submit = await spans.WaitAsync($"submit {fn}");
        var process = await spans.WaitAsync($"process {fn}");
        Assert.Equal(submit.TraceId, process.TraceId);
        Assert.Equal(submit.SpanId, process.ParentSpanId);
        Assert.Equal(ActivityKind.Producer, submit.Kind);
        Assert.Equal(ActivityKind.Consumer, process.Kind);
        Assert.Equal("gearman", submit.GetTagItem("messaging.system"));
        Assert.Equal(fn, submit.GetTagItem("messaging.destination.name"));
        Assert.Equal("send", submit.GetTagItem("messaging.operation.type"));
        Assert.Equal("process", process.GetTagItem("messaging.operation.type"));
        Assert.NotNull(submit.GetTagItem("messaging.message.id"));
        Assert.Equal(submit.GetTagItem("messaging.message.id"), process.GetTagItem("messaging.message.id"));
        Assert.Equal(["gearman.created", "gearman.status"], submit.Events.Select(e => e.Name));
        Assert.Equal(ActivityStatusCode.Unset, submit.Status);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Without_the_envelope_the_bytes_on_the_wire_are_unchanged_and_with_it_they_are_as_documented(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string fn = TestNames.Unique("wire");
        using var spans = new Spans();
        var payloads = new ConcurrentQueue<byte[]>();
        await using var rawWorker = await TestWorker.StartAsync(sut, fn, job =>
        {
            payloads.Enqueue(job.Payload);
            return job.CompleteAsync("ok");
        });
        await using var client = ClientTestSupport.NewClient(sut);
        // An ambient, sampled trace must not leak onto the wire either.
        using var parent = new Activity("caller") { ActivityTraceFlags = ActivityTraceFlags.Recorded }.Start();

        await client.ExecuteAsync(fn, Bytes("hello"), cancellationToken: Ct).AsTask().Within();
        await client.ExecuteAsync(fn, Bytes("hello"), new GearmanJobOptions { TraceContext = true }, cancellationToken: Ct).AsTask().Within();

        var plain = payloads.ToArray()[0];
        var wrapped = payloads.ToArray()[1];
        Assert.Equal(Bytes("hello"), plain);
        var submit = (await spans.WaitAllAsync($"submit {fn}", 2))[1];
        Assert.Equal(parent.TraceId, submit.TraceId);
        Assert.Equal($"gearman-trace-context/1\ntraceparent: 00-{submit.TraceId.ToHexString()}-{submit.SpanId.ToHexString()}-01\n\nhello", Encoding.ASCII.GetString(wrapped));
    }

    [Fact(Timeout = 60_000)]
    public async Task An_envelope_function_takes_plain_workloads_unchanged_and_fails_only_a_malformed_envelope()
    {
        var sut = await servers.GetAsync(ServerKind.Ours);
        string fn = TestNames.Unique("tolerant");
        using var spans = new Spans();
        Activity.Current = null;
        await using var worker = await StartWorkerAsync(Options(sut), fn, Echo, GearmanFunctionOptions.Default with { TraceContext = true });
        await using var client = ClientTestSupport.NewClient(sut);

        Assert.Equal("plain", Text(await client.ExecuteAsync(fn, Bytes("plain"), cancellationToken: Ct).AsTask().Within()));
        Assert.Equal(default, (await spans.WaitAsync($"process {fn}")).ParentSpanId);

        var error = await Assert.ThrowsAsync<GearmanJobException>(() => client.ExecuteAsync(fn, Bytes("gearman-trace-context/1\nbogus\n\nx"), cancellationToken: Ct).AsTask().Within());
        Assert.Contains("trace-context envelope that is malformed", Text(error.ExceptionData), StringComparison.Ordinal);
        Assert.Equal("again", Text(await client.ExecuteAsync(fn, Bytes("again"), cancellationToken: Ct).AsTask().Within()));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_map_jobs_span_parents_its_reducer_submits_and_the_aggregation(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string mapper = TestNames.Unique("traced_map");
        string reducer = TestNames.Unique("traced_reduce");
        using var spans = new Spans();
        Activity.Current = null;
        await using var worker = new GearmanWorker(Options(sut));
        worker.AddFunction(reducer, (job, _) => job.Workload, GearmanFunctionOptions.Default with { BoundedCapacity = 2, MaxDegreeOfParallelism = 2 });
        worker.AddMapper(
            mapper,
            (job, _) => new[] { Bytes("a"), Bytes("b") }.Select(b => (ReadOnlyMemory<byte>)b).ToAsyncEnumerable(),
            async (results, ct) =>
            {
                var all = new StringBuilder();
                await foreach (var r in results.WithCancellation(ct)) all.Append(Text(r));
                return Bytes(all.ToString());
            },
            GearmanMapperOptions.Default);
        await worker.StartAsync(Ct);
        await using var client = ClientTestSupport.NewClient(sut);

        Assert.Equal("ab", Text(await client.ExecuteReduceAsync(mapper, reducer, Bytes("x"), cancellationToken: Ct).AsTask().Within()));

        var map = await spans.WaitAsync($"process {mapper}");
        var reducerSubmits = await spans.WaitAllAsync($"submit {reducer}", 2);
        var aggregate = await spans.WaitAsync($"aggregate {mapper}");
        Assert.All(reducerSubmits, s => Assert.Equal(map.SpanId, s.ParentSpanId));
        Assert.Equal(map.SpanId, aggregate.ParentSpanId);
        Assert.Equal(reducer, map.GetTagItem("gearman.job.reducer"));
    }

    /// <summary>
    /// A tracer provider for the SDK's source exporting to OpenTelemetry's in-memory exporter, plus a processor after
    /// it that lets a test await a span by name (the exporter has it by then).
    /// </summary>
    private sealed class Spans : IDisposable
    {
        private readonly List<Activity> _exported = [];
        private readonly Signal _signal = new();
        private readonly TracerProvider _provider;

        public Spans()
        {
            _provider = Sdk.CreateTracerProviderBuilder()
                .AddSource(GearmanTelemetry.ActivitySourceName)
                .AddInMemoryExporter(_exported)
                .AddProcessor(_signal)
                .Build();
        }

        public async Task<Activity> WaitAsync(string name) => (await WaitAllAsync(name, 1))[0];

        public async Task<IReadOnlyList<Activity>> WaitAllAsync(string name, int count)
        {
            while (true)
            {
                var changed = _signal.Next;
                lock (_exported)
                {
                    var found = _exported.Where(a => a.DisplayName == name).ToList();
                    if (found.Count >= count) return found;
                }

                await changed.WaitAsync(WaitLimit, Ct);
            }
        }

        public void Dispose() => _provider.Dispose();

        private sealed class Signal : BaseProcessor<Activity>
        {
            private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public Task Next => Volatile.Read(ref _next).Task;

            public override void OnEnd(Activity data) => Interlocked.Exchange(ref _next, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }
}
