using Gearman.Server.Hosting;

namespace Gearman.Tests.Infrastructure;

/// <summary>This project's server, started in-process on <c>127.0.0.1:0</c>.</summary>
internal sealed class InProcessServer : IServerUnderTest
{
    private readonly GearmanServer _server;
    private int _disposed;

    private InProcessServer(GearmanServer server)
    {
        _server = server;
        Port = server.EndPoint.Port;
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public ServerKind Kind => ServerKind.Ours;

    public int ProcessId => Environment.ProcessId;

    public int? HttpPort => _server.HttpEndPoint?.Port;

    public int? MonitorPort => _server.MonitorEndPoint?.Port;

    public string Log => string.Empty;

    public static async Task<IServerUnderTest> StartAsync(ServerStartOptions options, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TestServers.StartTimeout);
        var server = await GearmanServer.StartAsync(ToServerOptions(options), timeout.Token);
        return new InProcessServer(server);
    }

    /// <summary>Starts our server on <paramref name="store"/> (which it then owns) instead of the store the options name.</summary>
    public static async Task<IServerUnderTest> StartWithStoreAsync(ServerStartOptions options, Gearman.Server.Persistence.IJobStore store, CancellationToken ct = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TestServers.StartTimeout);
        var server = await GearmanServer.StartWithStoreAsync(ToServerOptions(options), store, timeout.Token);
        return new InProcessServer(server);
    }

    private static GearmanServerOptions ToServerOptions(ServerStartOptions options)
    {
        return new GearmanServerOptions
        {
            Port = 0,
            ListenAddress = "127.0.0.1",
            JobRetries = options.JobRetries ?? -1,
            WorkerWakeup = options.WorkerWakeup ?? 0,
            Exceptions = options.Exceptions,
            HandlePrefix = options.HandlePrefix,
            QueueType = options.QueueType switch
            {
                "memory" => Gearman.Server.Persistence.QueueType.Memory,
                "sqlite" => Gearman.Server.Persistence.QueueType.Sqlite,
                "postgres" => Gearman.Server.Persistence.QueueType.Postgres,
                _ => throw new ArgumentException($"Unknown queue type '{options.QueueType}'.", nameof(options)),
            },
            SqliteDatabase = options.SqliteDatabase ?? Gearman.Server.Persistence.JobStores.DefaultSqliteDatabase,
            PostgresConnectionString = options.PostgresConnectionString,
            QueueTable = options.QueueTable ?? Gearman.Server.Persistence.JobStores.DefaultTable,
            Transport = TestServers.Transport,
            HttpPort = options.Http ? 0 : null,
            MonitorPort = options.Monitoring ? 0 : null,
            AdminToken = options.AdminToken,
            MaxPacketSize = options.MaxPacketSize ?? GearmanServerOptions.Default.MaxPacketSize,
        };
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _server.DisposeAsync();
    }

    public override string ToString() => $"ours at {Host}:{Port}";
}
