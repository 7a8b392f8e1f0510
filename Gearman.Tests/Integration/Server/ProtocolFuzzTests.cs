using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Server;

/// <summary>
/// A bounded, seeded protocol fuzzing run against each transport (about 7 s each): control echo jobs must all complete,
/// and the scheduler must never fail a command. The seed is printed; <c>GEARMAN_FUZZ_SEED=N</c> reruns it, and
/// <c>Gearman.Benchmarks fuzz --seconds 600 --seed N</c> runs it for longer.
/// </summary>
public sealed class ProtocolFuzzTests
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(7);

    [Theory]
    [MemberData(nameof(TransportServers.Names), MemberType = typeof(TransportServers))]
    public async Task Fuzzed_connections_never_disturb_a_control_client(string transport)
    {
        int seed = ProtocolFuzzer.ChooseSeed();
        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"fuzz seed {seed} ({transport}); rerun with GEARMAN_FUZZ_SEED={seed}");
        var logs = new LogCapture();
        await using var server = await TransportServers.StartAsync(transport, o => o with { MaxPacketSize = 1 << 20 }, logs);

        var report = await new ProtocolFuzzer("127.0.0.1", server.EndPoint.Port, seed).RunAsync(Duration, parallel: 4, TestContext.Current.CancellationToken);
        output?.WriteLine($"{report.Connections} fuzz connections, {report.Packets} units; {report.ControlEchoes} control echoes, worst {report.WorstControlEcho.TotalMilliseconds:F1} ms");

        Assert.True(report.ControlEchoes > 0, $"seed {seed}: no control echo completed");
        Assert.True(report.Connections > 0, $"seed {seed}: no fuzz connection was made");
        var failures = logs.Named("CommandFailed").Concat(logs.Named("ConnectionFailed")).Concat(logs.Named("EpollLoopFailed")).ToList();
        Assert.True(failures.Count == 0, $"seed {seed}: the server failed {failures.Count} times, first: {failures.FirstOrDefault()?.Message} {failures.FirstOrDefault()?.Exception}");
    }
}
