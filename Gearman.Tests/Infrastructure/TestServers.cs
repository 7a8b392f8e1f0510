namespace Gearman.Tests.Infrastructure;

/// <summary>Starts job servers for tests.</summary>
public static class TestServers
{
    /// <summary>How long a server may take to start accepting connections.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

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
