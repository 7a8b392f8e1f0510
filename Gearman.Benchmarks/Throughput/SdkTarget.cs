using System.Globalization;
using Gearman.Reactive;

namespace Gearman.Benchmarks.Throughput;

/// <summary>Where the SDK load connects: the run's server entry, over TLS when the server speaks it (<c>ours-tls</c>).</summary>
internal sealed record SdkTarget(string[] Servers, GearmanTlsOptions? Tls)
{
    public static SdkTarget Of(RunningServer server)
        => new([$"127.0.0.1:{server.Port.ToString(CultureInfo.InvariantCulture)}"], server.Spec.ClientTls);
}
