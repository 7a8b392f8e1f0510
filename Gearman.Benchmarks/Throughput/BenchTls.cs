using Gearman.Reactive;
using Gearman.Tests.Infrastructure;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// The certificates of the <c>ours-tls</c> server: a CA and a server certificate for 127.0.0.1 made once per
/// invocation in a temporary directory (the tests' <see cref="TestCertificates"/>), and the SDK settings that trust it.
/// </summary>
internal static class BenchTls
{
    private static readonly Lazy<TestCertificates> Certificates = new(() => new TestCertificates("Gearman Benchmark CA"));

    /// <summary>The server's <c>--ssl</c> arguments.</summary>
    public static IReadOnlyList<string> ServerArguments()
        => ["--ssl", "--ssl-certificate", Certificates.Value.ServerCertificateFile, "--ssl-key", Certificates.Value.ServerKeyFile];

    /// <summary>What the SDK load uses to connect.</summary>
    public static GearmanTlsOptions ClientOptions() => Certificates.Value.SdkOptions();

    /// <summary>Deletes the certificates at the end of the invocation, if any were made.</summary>
    public static IDisposable Lifetime() => new Cleanup();

    private sealed class Cleanup : IDisposable
    {
        public void Dispose()
        {
            if (Certificates.IsValueCreated) Certificates.Value.Dispose();
        }
    }
}
