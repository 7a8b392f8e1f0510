using Gearman.Server.Security;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop;

/// <summary>
/// Independent TLS peers against our server: Perl's Gearman::Client and Gearman::Worker (use_ssl, through
/// IO::Socket::SSL) with and without client certificates, and <c>openssl s_client</c> sending admin commands.
/// gearmand is not a reference here: Debian's build has no working TLS.
/// </summary>
[Trait("Category", "Interop")]
public sealed class TlsInteropTests
{
    private const string OpenSsl = "/usr/bin/openssl";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 90_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task Perl_client_and_worker_run_a_job_over_tls_without_client_certificates(string transport)
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates, transport);
        var tls = new PerlTls(server.Plaintext, certificates.CaFile);
        string fn = TestNames.Unique("perl_tls");
        await using var worker = await Peers.StartPerlWorkerAsync(server, fn, tls: tls);

        var output = await Peers.RunPerlClientAsync(server, tls, "do", fn, "secret");

        Assert.Equal(["status 1/2", "result perl:terces"], output);
        Assert.Matches(@"^job \S+ secret$", await Peers.SoleJobLineAsync(worker, Ct));
        Assert.Empty(server.Logs.Messages("TlsHandshakeFailed"));
    }

    [Theory(Timeout = 90_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task Perl_client_and_worker_with_client_certificates_pass_a_required_check_and_their_identities_apply(string transport)
    {
        using var certificates = new TestCertificates();
        string rules = certificates.File("rules.json");
        File.WriteAllText(rules, """{ "identities": { "perl-worker": { "canDo": ["perl_tls_*"] }, "perl-client": { "submit": ["perl_tls_*"] } } }""");
        await using var server = await TlsTestServer.StartAsync(certificates, transport, ClientCertificateMode.Required, rules);
        var workerCertificate = certificates.CreateClient("perl-worker");
        var clientCertificate = certificates.CreateClient("perl-client");
        string fn = TestNames.Unique("perl_tls");
        await using var worker = await Peers.StartPerlWorkerAsync(server, fn, tls: new PerlTls(server.Plaintext, certificates.CaFile, workerCertificate.CertificateFile, workerCertificate.KeyFile));

        var output = await Peers.RunPerlClientAsync(server, new PerlTls(server.Plaintext, certificates.CaFile, clientCertificate.CertificateFile, clientCertificate.KeyFile), "taskset", fn, "ab", "c");

        Assert.Equal(["complete ab perl:ba", "complete c perl:c", "done"], output.Order(StringComparer.Ordinal).ToArray()[..2].Append(output[^1]));
        Assert.Empty(server.Logs.Messages("AccessDenied"));
        Assert.Empty(server.Logs.Messages("TlsHandshakeFailed"));
    }

    [Fact(Timeout = 90_000)]
    public async Task A_perl_client_without_a_certificate_is_refused_when_one_is_required()
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates, clientCertificate: ClientCertificateMode.Required);
        string fn = TestNames.Unique("perl_tls");

        await using var client = await Peers.StartPerlClientAsync(server, new PerlTls(server.Plaintext, certificates.CaFile), "do", fn, "x");

        // Gearman::Client gives up on the job server ("Job server failure") or reports the task failed; it never gets a result.
        int exit = await client.WaitForExitAsync(Peers.RunTimeout);
        Assert.True(exit != 0 || client.OutputLines.SequenceEqual(["fail"]), client.Transcript());
        Assert.DoesNotContain(client.OutputLines, l => l.StartsWith("result", StringComparison.Ordinal));
        Assert.Contains("no client certificate", await server.Logs.WaitForAsync("TlsHandshakeFailed", TimeSpan.FromSeconds(20)), StringComparison.Ordinal);
    }

    [Theory(Timeout = 90_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task Openssl_s_client_sends_admin_commands_over_tls(string transport)
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates, transport, ClientCertificateMode.Optional);
        var client = certificates.CreateClient("admin-tool");

        // -quiet implies -ign_eof: it keeps reading after its stdin ends, until the test kills it.
        await using var openssl = ExternalProgram.Start(
            OpenSsl,
            ["s_client", "-connect", $"127.0.0.1:{server.Port}", "-CAfile", certificates.CaFile, "-verify_return_error", "-verify_hostname", "localhost",
             "-cert", client.CertificateFile, "-key", client.KeyFile, "-quiet"],
            standardInput: "version\nworkers\n");

        var version = await openssl.WaitForLineAsync(l => l.StartsWith("OK ", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        Assert.StartsWith("OK 1.1.20", version, StringComparison.Ordinal);
        await openssl.WaitForLineAsync(l => l == ".", TimeSpan.FromSeconds(20));
        Assert.Contains(openssl.OutputLines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d+ 127\.0\.0\.1 - :"));
    }
}
