using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using BenchmarkDotNet.Attributes;
using Gearman.Reactive.Protocol;
using Gearman.Server.Hosting;
using Gearman.Server.Networking;
using Gearman.Server.Scheduling;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gearman.Benchmarks.Micro;

/// <summary>
/// The server's dispatch path without sockets: request packets go through <see cref="JobScheduler.PostAsync"/> and
/// <see cref="JobScheduler.Drain"/> as the connection reader posts them (body copied into a pooled buffer, fields split),
/// and the replies are written by the outboxes' write loops into a sink that counts and discards them.
/// One operation is one 16 B job with a libgearman-style 36-byte unique, in the order a libgearman worker produces:
/// SUBMIT_JOB[_BG] (client), GRAB_JOB_UNIQ, WORK_COMPLETE, GRAB_JOB_UNIQ (NO_JOB), PRE_SLEEP (worker), one drain per packet.
/// The next submit wakes the sleeping worker with a NOOP.
/// </summary>
/// <remarks>
/// Allocated per job should be only the job's own state (the <see cref="Job"/>, its handle, its entries in the
/// scheduler's tables); packet bodies, reply batches and commands are pooled or values.
/// </remarks>
public class SchedulerBenchmarks
{
    private const int Jobs = 100;

    private static readonly byte[] Function = Encoding.ASCII.GetBytes("bench_echo");

    private readonly byte[] _payload = new byte[16];
    private byte[][] _submitBodies = [];
    private JobScheduler _scheduler = null!;
    private PeerConnection _client = null!;
    private PeerConnection _worker = null!;
    private CountingPipeWriter _clientSink = null!;
    private CountingPipeWriter _workerSink = null!;
    private Task _loops = Task.CompletedTask;

    /// <summary>Background jobs (no client attached) or foreground (WORK_COMPLETE is forwarded to the client).</summary>
    [Params(false, true)]
    public bool Foreground { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Random.Shared.NextBytes(_payload);
        _submitBodies = new byte[Jobs][];
        for (int i = 0; i < Jobs; i++)
        {
            var unique = Encoding.ASCII.GetBytes(Guid.NewGuid().ToString());
            _submitBodies[i] = [.. Function, 0, .. unique, 0, .. _payload];
        }

        _scheduler = new JobScheduler(new GearmanServerOptions { HandlePrefix = "H:bench" }, NullLogger.Instance);
        _client = new PeerConnection(1, "client", exceptions: false, _scheduler.FlushLater);
        _worker = new PeerConnection(2, "worker", exceptions: false, _scheduler.FlushLater);
        _clientSink = new CountingPipeWriter();
        _workerSink = new CountingPipeWriter();
        _loops = Task.WhenAll(_client.Outbox.RunAsync(_clientSink, CancellationToken.None), _worker.Outbox.RunAsync(_workerSink, CancellationToken.None));
        Post(ServerCommand.ForConnected(_client));
        Post(ServerCommand.ForConnected(_worker));
        Post(PacketType.CanDo, _worker, Function);
        RunJobs();
        if (_scheduler.Jobs.Count != 0) throw new InvalidOperationException($"{_scheduler.Jobs.Count} jobs left after a round");
        if (_workerSink.Written == 0 || (Foreground && _clientSink.Written == 0)) throw new InvalidOperationException("no replies were written");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Post(ServerCommand.ForDisconnected(_client));
        Post(ServerCommand.ForDisconnected(_worker));
        _scheduler.Complete();
        _loops.GetAwaiter().GetResult();
    }

    [Benchmark(OperationsPerInvoke = Jobs)]
    public long SubmitGrabComplete()
    {
        RunJobs();
        return _workerSink.Written;
    }

    private void RunJobs()
    {
        var submit = Foreground ? PacketType.SubmitJob : PacketType.SubmitJobBg;
        Span<byte> complete = stackalloc byte[64];
        foreach (var body in _submitBodies)
        {
            Post(submit, _client, body);
            Post(PacketType.GrabJobUniq, _worker, []);
            var handle = _worker.RunningJobs[0].Handle;
            handle.CopyTo(complete);
            complete[handle.Length] = 0;
            _payload.CopyTo(complete[(handle.Length + 1)..]);
            Post(PacketType.WorkComplete, _worker, complete[..(handle.Length + 1 + _payload.Length)]);
            Post(PacketType.GrabJobUniq, _worker, []);
            Post(PacketType.PreSleep, _worker, []);
        }
    }

    /// <summary>What the connection reader does with one request packet.</summary>
    private void Post(PacketType type, PeerConnection connection, ReadOnlySpan<byte> body)
    {
        var copy = body.IsEmpty ? [] : ArrayPool<byte>.Shared.Rent(body.Length);
        body.CopyTo(copy);
        if (!PacketFields.TrySplit(PacketLayout.Of(type).Fields, copy.AsSpan(0, body.Length), out var fields)) throw new InvalidOperationException($"bad {type} body");
        Post(ServerCommand.ForPacket(connection, type, copy, body.Length, fields));
    }

    private void Post(in ServerCommand command)
    {
        var posted = _scheduler.PostAsync(command);
        if (!posted.IsCompletedSuccessfully) throw new InvalidOperationException("the scheduler queue is full");
        _scheduler.Drain();
    }

    /// <summary>A transport that accepts and discards everything; flushes complete at once.</summary>
    private sealed class CountingPipeWriter : PipeWriter
    {
        private readonly byte[] _buffer = new byte[1 << 16];

        public long Written { get; private set; }

        public override void Advance(int bytes) => Written += bytes;

        public override Memory<byte> GetMemory(int sizeHint = 0) => sizeHint <= _buffer.Length ? _buffer : new byte[sizeHint];

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void CancelPendingFlush()
        {
        }

        public override void Complete(Exception? exception = null)
        {
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(default(FlushResult));
    }
}
