using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;
using Gearman.Server.Security;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Security;

/// <summary>The SDK TLS example of docs/security.md, run against our server with TLS and a plaintext listener.</summary>
[Trait("Category", "Integration")]
public sealed class TlsDocsExamplesTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 60_000)]
    public async Task The_sdk_tls_example_runs_jobs_over_tls_with_a_client_certificate_and_over_the_plaintext_entry()
    {
        using var certificates = new TestCertificates();
        var resizeWorker = certificates.CreateClient("resize-worker");
        await using var server = await TlsTestServer.StartAsync(certificates, clientCertificate: ClientCertificateMode.Required);
        string tlsEntry = $"localhost:{server.Port}";
        string plainEntry = $"127.0.0.1:{server.Plaintext.Port}";
        string[] servers = [tlsEntry];

        // docs: security-sdk-tls
        var ca = new X509Certificate2Collection();
        ca.ImportFromPemFile(certificates.CaFile); // docs shows: ca.ImportFromPemFile("ca.pem");
        var tls = new GearmanTlsOptions
        {
            CertificateAuthorities = ca,   // null: the system's trusted roots
            ClientCertificate = X509Certificate2.CreateFromPemFile(resizeWorker.CertificateFile, resizeWorker.KeyFile), // docs shows: ClientCertificate = X509Certificate2.CreateFromPemFile("resize-worker.pem", "resize-worker.key"),
        };

        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = servers, Tls = tls }); // docs shows: await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = ["jobs.example.org:4730"], Tls = tls });

        // Per server: TLS for one entry, plaintext for another (a null value).
        await using var client = new GearmanClient(GearmanClientOptions.Default with
        {
            Servers = [tlsEntry, plainEntry], // docs shows: Servers = ["jobs.example.org:4730", "127.0.0.1:4731"],
            Tls = tls,
            ServerTls = new Dictionary<string, GearmanTlsOptions?> { [plainEntry] = null }, // docs shows: ServerTls = new Dictionary<string, GearmanTlsOptions?> { ["127.0.0.1:4731"] = null },
        });
        // end

        string fn = TestNames.Unique("tls_docs");
        worker.AddFunction(fn, (job, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(job.Workload.ToArray()), GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        await AdminProbe.WaitForWorkersAsync(server.Plaintext, fn, ct: Ct);

        // Unique IDs spread the submits over both entries (the client hashes them to pick a server).
        for (int i = 0; i < 8; i++)
        {
            var result = await client.ExecuteAsync(fn, Encoding.UTF8.GetBytes($"job {i}"), GearmanJobOptions.Default with { Unique = $"u{i}" }, cancellationToken: Ct)
                .AsTask().WaitAsync(Timeout, Ct);
            Assert.Equal($"job {i}", Encoding.UTF8.GetString(result.Span));
        }

        Assert.Empty(server.Logs.Messages("TlsHandshakeFailed"));
    }
}
