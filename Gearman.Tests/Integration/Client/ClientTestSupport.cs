using System.Collections.Concurrent;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using Gearman.Reactive.Client;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Client;

/// <summary>One server of each kind per test class, started on first use (tests use unique function names).</summary>
public sealed class ClientServerFixture : IAsyncDisposable
{
    private readonly ConcurrentDictionary<ServerKind, Lazy<Task<IServerUnderTest>>> _servers = new();

    public Task<IServerUnderTest> GetAsync(ServerKind kind)
        => _servers.GetOrAdd(kind, k => new Lazy<Task<IServerUnderTest>>(() => TestServers.StartAsync(k))).Value;

    public async ValueTask DisposeAsync()
    {
        foreach (var lazy in _servers.Values)
        {
            if (!lazy.IsValueCreated) continue;
            try
            {
                await (await lazy.Value).DisposeAsync();
            }
            catch (Exception)
            {
                // A server that failed to start has nothing to stop.
            }
        }
    }
}

/// <summary>Small helpers shared by the client tests.</summary>
internal static class ClientTestSupport
{
    /// <summary>Bound for anything a test awaits.</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static string Address(this IServerUnderTest server) => $"{server.Host}:{server.Port}";

    public static GearmanClient NewClient(params IServerUnderTest[] servers)
        => new(GearmanClientOptions.Default with { Servers = [.. servers.Select(Address)] });

    public static GearmanClient NewClient(GearmanClientOptions options) => new(options);

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>All events of a task (and how it ended), with a bound.</summary>
    public static Task<IList<System.Reactive.Notification<TaskEvent>>> MaterializeAsync(this IObservable<TaskEvent> task)
        => task.Materialize().ToList().ToTask(Ct).WaitAsync(Wait, Ct);

    /// <summary>All events of a task that must complete, with a bound.</summary>
    public static Task<IList<TaskEvent>> EventsAsync(this IObservable<TaskEvent> task)
        => task.ToList().ToTask(Ct).WaitAsync(Wait, Ct);

    /// <summary>Subscribes now, keeping every event for later (a hot replay of one submission).</summary>
    public static IObservable<TaskEvent> StartNow(this IObservable<TaskEvent> task)
    {
        var replay = task.Replay();
        replay.Connect();
        return replay;
    }

    /// <summary>A unique ID whose rendezvous hash sends jobs to server <paramref name="index"/> of <paramref name="client"/> first.</summary>
    public static string UniqueFor(GearmanClient client, int index, string prefix = "u")
    {
        var sessions = client.Sessions.ToArray();
        for (int i = 0; ; i++)
        {
            string candidate = $"{prefix}{i}";
            if (ServerSelector.Next(sessions, ServerSelector.KeyHash(candidate), 0, 0) == index) return candidate;
        }
    }

    /// <summary>Waits for the Created event of a started task.</summary>
    public static Task<TaskEvent> CreatedAsync(this IObservable<TaskEvent> task) => task.EventAsync(TaskEventKind.Created);

    /// <summary>Waits for the first event of <paramref name="kind"/> of a started task.</summary>
    public static Task<TaskEvent> EventAsync(this IObservable<TaskEvent> task, TaskEventKind kind)
        => task.FirstAsync(e => e.Kind == kind).ToTask(Ct).WaitAsync(Wait, Ct);
}

/// <summary>An <see cref="IProgress{T}"/> that records synchronously (unlike <see cref="Progress{T}"/>, which posts).</summary>
internal sealed class RecordingProgress<T> : IProgress<T>
{
    private readonly ConcurrentQueue<T> _reports = new();

    public IReadOnlyList<T> Reports => [.. _reports];

    public void Report(T value) => _reports.Enqueue(value);
}
