using BenchmarkDotNet.Attributes;
using Gearman.Reactive.Client;
using Gearman.Reactive.Connections.Transports;

namespace Gearman.Benchmarks.Micro;

/// <summary>
/// The client's submit path end to end over loopback TCP: submit packet out, JOB_CREATED, <see cref="DataEvents"/>
/// WORK_DATA and WORK_COMPLETE back, events delivered, against a canned allocation-free server. Compare
/// <see cref="DataEvents"/> 0 and 8: the difference in allocated bytes, divided by 8, is the cost of one event, which
/// should be its payload copy (a <see cref="PayloadSize"/>-byte array) and nothing else.
/// </summary>
[MemoryDiagnoser]
public class ClientSubmitBenchmarks
{
    private LoopbackJobServer? _server;
    private GearmanClient? _client;
    private IObservable<TaskEvent>? _task;
    private byte[] _payload = [];

    /// <summary>WORK_DATA packets per job.</summary>
    [Params(0, 8)]
    public int DataEvents { get; set; }

    /// <summary>Bytes in every payload (request, data chunks and result).</summary>
    [Params(16)]
    public int PayloadSize { get; set; }

    /// <summary>The portable transport instead of the reader-thread one (which Linux uses by default).</summary>
    [Params(false, true)]
    public bool Portable { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _server = LoopbackJobServer.Start(DataEvents, PayloadSize);
        _client = new GearmanClient(GearmanClientOptions.Default with
        {
            Servers = [_server.Address],
            Transport = Portable ? TransportKind.Portable : TransportKind.Automatic,
        });
        _payload = new byte[PayloadSize];
        _task = _client.Submit("bench", _payload);
        for (int i = 0; i < 100; i++)
        {
            ExecuteAsync().AsTask().GetAwaiter().GetResult();
            Observe().GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _server?.Dispose();
    }

    /// <summary>One job through the awaitable helper.</summary>
    [Benchmark(Baseline = true)]
    public async ValueTask<int> ExecuteAsync() => (await _client!.ExecuteAsync("bench", _payload).ConfigureAwait(false)).Length;

    /// <summary>One subscription of a cold task observable (one submit), every event observed.</summary>
    [Benchmark]
    public Task<int> Observe()
    {
        var observer = new CountingObserver();
        _task!.Subscribe(observer);
        return observer.Completion;
    }

    /// <summary>Counts events and completes a task at the end, adding nothing per event.</summary>
    private sealed class CountingObserver : IObserver<TaskEvent>
    {
        private readonly TaskCompletionSource<int> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _events;

        public Task<int> Completion => _done.Task;

        public void OnNext(TaskEvent value) => _events++;

        public void OnError(Exception error) => _done.TrySetException(error);

        public void OnCompleted() => _done.TrySetResult(_events);
    }
}
