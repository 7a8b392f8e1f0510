using Gearman.Reactive.Serialization;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Interop;

/// <summary>
/// The typed and traced SDK functions called by libgearman's <c>gearman</c> client, which knows neither: UTF-8 text
/// goes both ways unchanged, and a function that accepts the trace-context envelope takes a plain workload as it is.
/// </summary>
[Trait("Category", "Interop")]
public sealed class TypedPayloadInteropTests
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_gearman_cli_calls_a_typed_text_function_and_an_envelope_function(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string shout = TestNames.Unique("cli_shout");
        string traced = TestNames.Unique("cli_traced");
        await using var worker = new GearmanWorker(Options(server));
        worker.AddFunction<string, string>(shout, text => text.ToUpperInvariant() + "!", GearmanSerializer.Utf8, GearmanSerializer.Utf8, GearmanFunctionOptions.Default);
        worker.AddFunction(traced, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default with { TraceContext = true });
        await worker.StartAsync(Ct);

        await using (var cli = await GearmanTools.RunGearmanAsync(server, "-f", shout, "grüne"))
        {
            Assert.True(await cli.WaitForExitAsync() == 0, cli.Transcript());
            Assert.Equal("GRÜNE!", cli.StandardOutput.Trim());
        }

        await using (var cli = await GearmanTools.RunGearmanAsync(server, "-f", traced, "plain bytes"))
        {
            Assert.True(await cli.WaitForExitAsync() == 0, cli.Transcript());
            Assert.Equal("plain bytes", cli.StandardOutput.Trim());
        }
    }
}
