using System.Globalization;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>Helpers for worker tests: a worker pointed at a server under test, raw submissions, and waits.</summary>
internal static class WorkerTestKit
{
    /// <summary>Bound for every wait in these tests.</summary>
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(20);

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Worker options for <paramref name="servers"/> with quick reconnects and test-output logging.</summary>
    public static GearmanWorkerOptions Options(params IServerUnderTest[] servers) => GearmanWorkerOptions.Default with
    {
        Servers = [.. servers.Select(s => $"{s.Host}:{s.Port.ToString(CultureInfo.InvariantCulture)}")],
        ReconnectDelay = TimeSpan.FromMilliseconds(50),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(500),
        ShutdownTimeout = TimeSpan.FromSeconds(10),
        LoggerFactory = TestLogging.Factory,
    };

    /// <summary>A handler whose result is the job's workload.</summary>
    public static ValueTask<ReadOnlyMemory<byte>> Echo(GearmanJob job, CancellationToken cancellationToken) => ValueTask.FromResult(job.Workload);

    /// <summary>A handler whose result is <paramref name="result"/> of the job.</summary>
    public static Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> Replying(Func<GearmanJob, string> result)
        => (job, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Bytes(result(job)));

    /// <summary>
    /// A handler that sends WORK_DATA d1, WORK_STATUS 1/3, WORK_WARNING careful, WORK_STATUS 2/3 and WORK_DATA d2, then
    /// completes with <paramref name="result"/> of the job.
    /// </summary>
    public static Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> SendingEvents(Func<GearmanJob, string> result)
        => async (job, ct) =>
        {
            await job.SendDataAsync(Bytes("d1"), ct);
            await job.SendStatusAsync(1, 3, ct);
            await job.SendWarningAsync(Bytes("careful"), ct);
            await job.SendStatusAsync(2, 3, ct);
            await job.SendDataAsync(Bytes("d2"), ct);
            return Bytes(result(job));
        };

    /// <summary>A worker for <paramref name="options"/> with <paramref name="handler"/> registered as <paramref name="function"/>, started.</summary>
    public static async Task<GearmanWorker> StartWorkerAsync(
        GearmanWorkerOptions options, string function, Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> handler, GearmanFunctionOptions? functionOptions = null)
    {
        var worker = new GearmanWorker(options);
        try
        {
            worker.AddFunction(function, handler, functionOptions ?? GearmanFunctionOptions.Default);
            await worker.StartAsync(Ct);
            return worker;
        }
        catch
        {
            await worker.DisposeAsync();
            throw;
        }
    }

    public static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    public static string Text(ReadOnlyMemory<byte> b) => Encoding.UTF8.GetString(b.Span);

    /// <summary>Submits a job with raw packets and returns its handle.</summary>
    public static async Task<string> SubmitAsync(RawGearmanConnection client, string function, string data, string unique = "", bool background = false)
    {
        await client.SendAsync(background ? PacketType.SubmitJobBg : PacketType.SubmitJob, function, unique, data);
        return (await client.ExpectPacketAsync(PacketType.JobCreated, WaitLimit)).BodyText;
    }

    /// <summary>Reads the packets of a foreground job up to and including its WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION.</summary>
    public static async Task<List<RawPacket>> ReadUntilEndAsync(RawGearmanConnection client, TimeSpan? timeout = null)
    {
        var packets = new List<RawPacket>();
        while (true)
        {
            var p = await client.ReadPacketAsync(timeout ?? WaitLimit);
            packets.Add(p);
            if ((PacketType)p.Type is PacketType.WorkComplete or PacketType.WorkFail or PacketType.WorkException) return packets;
        }
    }

    /// <summary>A packet as "TYPE field|field" for compact assertions (the handle field is kept).</summary>
    public static string Describe(RawPacket p) => $"{p.TypeName} {string.Join('|', p.Strings())}";

    /// <summary>Waits until <paramref name="condition"/> holds, polling the server's admin status (external state has no signal).</summary>
    public static Task<FunctionStatus> WaitForStatusAsync(IServerUnderTest server, string function, Func<FunctionStatus, bool> condition, string what)
        => AdminProbe.WaitForStatusAsync(server, function, condition, what, WaitLimit, Ct);

    /// <summary>Awaits <paramref name="task"/> with the test bound.</summary>
    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(WaitLimit, Ct);

    /// <summary>Awaits <paramref name="task"/> with the test bound.</summary>
    public static Task Within(this Task task) => task.WaitAsync(WaitLimit, Ct);
}

/// <summary>Routes SDK logs to the current test's output.</summary>
internal static class TestLogging
{
    public static ILoggerFactory Factory { get; } = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new TestOutputLoggerProvider()));

    private sealed class TestOutputLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new TestOutputLogger(categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class TestOutputLogger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var output = TestContext.Current.TestOutputHelper;
            if (output is null) return;
            try
            {
                output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}[{eventId.Name}] {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception.Message)}");
            }
            catch (InvalidOperationException)
            {
                // The test has finished.
            }
        }
    }
}
