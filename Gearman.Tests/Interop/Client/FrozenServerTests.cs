using System.Globalization;
using Gearman.Reactive.Client;
using Gearman.Reactive.Connections;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Interop.Client;

/// <summary>
/// Back-pressure against real servers that stop reading: gearmand and our server (as a process), frozen with SIGSTOP.
/// The client's submits wait at the connection's high-water mark, its queue stays under the bound, and once the server
/// is thawed (SIGCONT) every submit completes.
/// </summary>
[Trait("Category", "Interop")]
public sealed class FrozenServerTests
{
    [Theory(Timeout = 120_000)]
    [BothServers]
    public async Task Submits_to_a_frozen_server_wait_at_the_mark_and_complete_once_it_is_thawed(ServerKind kind)
    {
        const int Jobs = 128;
        const int PayloadSize = 256 * 1024; // 32 MiB in all: far more than the socket buffers hold
        await using IServerUnderTest server = kind == ServerKind.Gearmand
            ? await TestServers.StartAsync(kind, ct: Ct)
            : await ServerProcess.StartAsync(["--queue-type", "memory"], ct: Ct);
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address()], ResponseTimeout = Timeout.InfiniteTimeSpan });
        string function = TestNames.Unique("frozen");
        await client.SubmitBackgroundAsync(function, Bytes("warm-up"), cancellationToken: Ct).AsTask().WaitAsync(Wait, Ct);
        var outbox = client.Sessions[0].CurrentConnection!.Outbox;

        await SignalAsync("-STOP", server.ProcessId);
        try
        {
            var submits = Enumerable.Range(0, Jobs).Select(_ => client.SubmitBackgroundAsync(function, new byte[PayloadSize], cancellationToken: Ct).AsTask()).ToArray();
            using var sampler = PeakSampler.Start(() => outbox.PendingBytes);
            long bound = GearmanConnection.SendHighWaterMark + (4L * (PayloadSize + 1024));
            Assert.True(SpinWait.SpinUntil(() => outbox.PendingBytes >= GearmanConnection.SendHighWaterMark, Wait), "the queue never reached the mark");
            Assert.True(submits.Count(s => !s.IsCompleted) > Jobs / 2, "the submits were not held up");

            await SignalAsync("-CONT", server.ProcessId);
            var handles = await Task.WhenAll(submits).WaitAsync(TimeSpan.FromSeconds(60), Ct);
            Assert.Equal(Jobs, handles.Select(h => h.Handle).Distinct().Count());
            Assert.InRange(sampler.Peak, 0, bound);
        }
        finally
        {
            await SignalAsync("-CONT", server.ProcessId);
        }
    }

    private static async Task SignalAsync(string signal, int processId)
    {
        await using var kill = await ExternalProgram.RunAsync("/bin/kill", [signal, processId.ToString(CultureInfo.InvariantCulture)]);
        Assert.Equal(0, await kill.WaitForExitAsync());
    }
}
