namespace Gearman.Tests.Infrastructure;

/// <summary>Server settings a test may ask for; each maps to a gearmand switch (protocol.md §6.1).</summary>
public sealed record ServerStartOptions
{
    /// <summary>The defaults: nothing passed beyond the listen address and port.</summary>
    public static ServerStartOptions Default { get; } = new();

    /// <summary><c>-j N</c>. Note the meaning of 0 differs: unlimited in 1.1.20, "no retries" in HEAD (protocol.md §2.11).</summary>
    public int? JobRetries { get; init; }

    /// <summary><c>-w N</c>: most NOOPs sent per queued job; 0 wakes every sleeping worker.</summary>
    public int? WorkerWakeup { get; init; }

    /// <summary><c>--exceptions</c>: every connection starts with exceptions enabled.</summary>
    public bool Exceptions { get; init; }

    /// <summary><c>--job-handle-prefix P</c>: handles become <c>P:n</c>.</summary>
    public string? HandlePrefix { get; init; }

    /// <summary>
    /// Our server's <c>--queue-type</c>: <c>memory</c> (the test default, so that parallel tests share no database file),
    /// <c>sqlite</c> or <c>postgres</c>. Ignored by gearmand.
    /// </summary>
    public string QueueType { get; init; } = "memory";

    /// <summary>Our server's <c>--sqlite-db</c> (with <see cref="QueueType"/> <c>sqlite</c>).</summary>
    public string? SqliteDatabase { get; init; }

    /// <summary>Our server's <c>--postgres</c> connection string (with <see cref="QueueType"/> <c>postgres</c>).</summary>
    public string? PostgresConnectionString { get; init; }

    /// <summary>Our server's <c>--queue-table</c>; null for the default.</summary>
    public string? QueueTable { get; init; }

    /// <summary>Also serve gearmand's HTTP job protocol (<c>-r http --http-port</c>) on a free loopback port: <see cref="IServerUnderTest.HttpPort"/>.</summary>
    public bool Http { get; init; }

    /// <summary>Our server's <c>--monitor-port</c> on a free loopback port (<see cref="IServerUnderTest.MonitorPort"/>). Ignored by gearmand.</summary>
    public bool Monitoring { get; init; }

    /// <summary>Our server's <c>--max-packet-size</c>; null for the default. Ignored by gearmand.</summary>
    public int? MaxPacketSize { get; init; }

    /// <summary>Our server's <c>--admin-token</c>. Ignored by gearmand.</summary>
    public string? AdminToken { get; init; }

    /// <summary>Further arguments for gearmand only (ignored by our server).</summary>
    public IReadOnlyList<string> ExtraGearmandArgs { get; init; } = [];
}
