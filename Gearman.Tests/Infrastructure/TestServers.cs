namespace Gearman.Tests.Infrastructure;

/// <summary>Starts job servers for tests.</summary>
public static class TestServers
{
    /// <summary>How long a server may take to start accepting connections.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The transport our server uses in tests: the server's default, or the one named by <c>GEARMAN_TEST_TRANSPORT</c>
    /// (<c>epoll</c> or <c>kestrel</c>), so the whole suite can run against either, e.g.
    /// <c>GEARMAN_TEST_TRANSPORT=kestrel dotnet test Gearman.Tests --filter FullyQualifiedName~Conformance</c>.
    /// </summary>
    internal static Gearman.Server.Hosting.ServerTransport Transport { get; } = Environment.GetEnvironmentVariable("GEARMAN_TEST_TRANSPORT")?.ToLowerInvariant() switch
    {
        null or "" or "auto" => Gearman.Server.Hosting.ServerTransport.Auto,
        "epoll" => Gearman.Server.Hosting.ServerTransport.Epoll,
        "kestrel" => Gearman.Server.Hosting.ServerTransport.Kestrel,
        var other => throw new InvalidOperationException($"GEARMAN_TEST_TRANSPORT={other}: expected epoll, kestrel or auto."),
    };

    /// <summary>The <c>--transport</c> arguments for a server process, matching <see cref="Transport"/>.</summary>
    internal static IReadOnlyList<string> TransportArguments { get; } = Transport == Gearman.Server.Hosting.ServerTransport.Auto
        ? []
        : ["--transport", Transport.ToString().ToLowerInvariant()];

    /// <summary>Starts a server of <paramref name="kind"/> on a free loopback port; returns once it accepts connections.</summary>
    public static async Task<IServerUnderTest> StartAsync(ServerKind kind, ServerStartOptions? options = null, CancellationToken ct = default)
    {
        options ??= ServerStartOptions.Default;
        return kind switch
        {
            ServerKind.Gearmand => await GearmandServer.StartAsync(options, ct),
            ServerKind.Ours => await InProcessServer.StartAsync(options, ct),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
    }
}
