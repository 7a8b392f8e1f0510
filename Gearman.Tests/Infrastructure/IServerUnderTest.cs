namespace Gearman.Tests.Infrastructure;

/// <summary>A running job server that a test talks to over loopback TCP. Disposing stops it.</summary>
public interface IServerUnderTest : IAsyncDisposable
{
    /// <summary>Always <c>127.0.0.1</c>.</summary>
    string Host { get; }

    /// <summary>The ephemeral port the server listens on.</summary>
    int Port { get; }

    /// <summary>Which implementation this is.</summary>
    ServerKind Kind { get; }

    /// <summary>The process id the server reports for admin <c>getpid</c> (the test host itself for <see cref="ServerKind.Ours"/>).</summary>
    int ProcessId { get; }

    /// <summary>What the server logged so far (gearmand's stderr), for failure messages; empty when not captured.</summary>
    string Log { get; }

    /// <summary>The port of gearmand's HTTP job protocol, when started with <see cref="ServerStartOptions.Http"/>.</summary>
    int? HttpPort => null;

    /// <summary>The monitoring port (ours only), when started with <see cref="ServerStartOptions.Monitoring"/>.</summary>
    int? MonitorPort => null;

    /// <summary>Starts a server of <paramref name="kind"/> on a free loopback port; returns once it accepts connections.</summary>
    static Task<IServerUnderTest> StartAsync(ServerKind kind, ServerStartOptions? options = null, CancellationToken ct = default)
        => TestServers.StartAsync(kind, options, ct);
}
