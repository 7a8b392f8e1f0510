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
