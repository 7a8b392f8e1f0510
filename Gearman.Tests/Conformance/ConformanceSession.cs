using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>
/// One server under test for one conformance test, plus every connection the test opens; disposing closes the
/// connections, then stops the server. Each test gets its own server so that handle numbers, <c>status</c> rows and
/// <c>workers</c> lines are exactly those the test produced.
/// </summary>
internal sealed class ConformanceSession : IAsyncDisposable
{
    private readonly List<RawGearmanConnection> _connections = [];
    private RawGearmanConnection? _admin;

    private ConformanceSession(IServerUnderTest server, string handlePrefix)
    {
        Server = server;
        HandlePrefix = handlePrefix;
    }

    public IServerUnderTest Server { get; }

    public ServerKind Kind => Server.Kind;

    public bool IsGearmand => Server.Kind == ServerKind.Gearmand;

    /// <summary>What every handle starts with: <c>H:&lt;uname nodename&gt;:</c> by default (protocol.md §2.2).</summary>
    public string HandlePrefix { get; }

    /// <summary>The host name gearmand puts in handles: uname's nodename.</summary>
    public static string NodeName { get; } = File.ReadAllText("/proc/sys/kernel/hostname").Trim();

    public static async Task<ConformanceSession> StartAsync(ServerKind kind, ServerStartOptions? options = null)
    {
        options ??= ServerStartOptions.Default;
        var server = await TestServers.StartAsync(kind, options, TestContext.Current.CancellationToken);
        return new ConformanceSession(server, (options.HandlePrefix ?? "H:" + NodeName) + ":");
    }

    /// <summary>The handle of the <paramref name="n"/>-th job the server created (numbers start at 1, protocol.md §2.2).</summary>
    public string Handle(int n) => HandlePrefix + n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public async Task<RawGearmanConnection> ConnectAsync()
    {
        var connection = await RawGearmanConnection.ConnectAsync(Server, TestContext.Current.CancellationToken);
        lock (_connections) _connections.Add(connection);
        return connection;
    }

    /// <summary>Opens a connection that registers <paramref name="functions"/> (first one first) and is known to the server.</summary>
    public async Task<RawGearmanConnection> WorkerAsync(params string[] functions)
    {
        var worker = await ConnectAsync();
        foreach (var function in functions) await worker.SendAsync(PacketType.CanDo, function);
        await worker.SyncAsync();
        return worker;
    }

    /// <summary>A connection of the session used for admin commands (opened on first use).</summary>
    public async Task<RawGearmanConnection> AdminAsync()
    {
        return _admin ??= await ConnectAsync();
    }

    /// <summary>Sends an admin command on the session's admin connection and reads its one-line reply.</summary>
    public async Task<string> AdminLineAsync(string command) => await (await AdminAsync()).AdminAsync(command);

    /// <summary>Sends an admin command on the session's admin connection and reads its list reply.</summary>
    public async Task<IReadOnlyList<string>> AdminListAsync(string command) => await (await AdminAsync()).AdminListAsync(command);

    /// <summary>
    /// Closes <paramref name="connection"/> and returns once the server has processed the disconnect, which is when
    /// the connection is gone from admin <c>workers</c> (one line per live connection, protocol.md §3).
    /// </summary>
    public async Task CloseAsync(RawGearmanConnection connection)
    {
        int before = (await AdminListAsync("workers")).Count;
        await connection.DisposeAsync();
        await WaitUntilAsync(async () => (await AdminListAsync("workers")).Count < before, "the server to drop the closed connection");
    }

    /// <summary>Re-checks <paramref name="condition"/> (each check is a server round trip) until it holds or the read timeout passes.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + RawGearmanConnection.DefaultTimeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for {what}.");
            await Task.Yield();
        }
    }

    public async ValueTask DisposeAsync()
    {
        RawGearmanConnection[] connections;
        lock (_connections) connections = [.. _connections];
        foreach (var connection in connections) await connection.DisposeAsync();
        await Server.DisposeAsync();
    }

    public override string ToString() => Server.ToString() ?? Kind.ToString();
}
