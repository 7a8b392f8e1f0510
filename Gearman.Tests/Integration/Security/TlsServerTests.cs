using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Server.Security;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Security;

/// <summary>Our server's TLS listener (<c>--ssl</c>) on both transports, with our SDK and raw TLS clients.</summary>
[Trait("Category", "Integration")]
public sealed class TlsServerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task Sdk_client_and_worker_run_a_job_over_tls_and_admin_answers_over_tls(string transport)
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates, transport);
        string fn = TestNames.Unique("tls_job");
        string[] servers = [$"localhost:{server.Port}"];

        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = servers, Tls = certificates.SdkOptions() });
        worker.AddFunction(fn, (job, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes("tls:" + Encoding.UTF8.GetString(job.Workload.Span))), GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        await AdminProbe.WaitForWorkersAsync(server.Plaintext, fn, ct: Ct);

        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = servers, Tls = certificates.SdkOptions() });
        var result = await client.ExecuteAsync(fn, "hello"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct);
        Assert.Equal("tls:hello", Encoding.UTF8.GetString(result.Span));

        await using var admin = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, certificates.RawOptions(), Ct);
        var status = await admin.AdminListAsync("status");
        Assert.Contains(status, l => l.StartsWith(fn + "\t", StringComparison.Ordinal));
    }

    [Fact(Timeout = 60_000)]
    public async Task Client_and_worker_pings_use_their_tls_settings()
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates);
        string[] servers = [$"localhost:{server.Port}"];

        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = servers, Tls = certificates.SdkOptions() });
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = servers, Tls = certificates.SdkOptions() });
        await using var plaintextClient = new GearmanClient(GearmanClientOptions.Default with { Servers = servers });

        var ping = Assert.Single(await client.PingAsync(Ct));
        Assert.Null(ping.Error);
        Assert.Null(Assert.Single(await worker.PingAsync(Ct)).Error);

        // Without TLS settings the same server cannot be pinged: the TLS port does not speak plaintext.
        Assert.NotNull(Assert.Single(await plaintextClient.PingAsync(Ct)).Error);
    }

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task A_plaintext_client_on_the_tls_port_is_closed_and_logged_once_and_others_are_unaffected(string transport)
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates, transport);
        await using var healthy = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, certificates.RawOptions(), Ct);

        await using (var plain = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.Port, Ct))
        {
            await plain.SendRawAsync(RawGearmanConnection.Encode(PacketType.EchoReq, "x"), Ct);
            await plain.WaitForServerCloseAsync(ct: Ct);
        }

        string reason = await server.Logs.WaitForAsync("TlsHandshakeFailed", Timeout);
        Assert.Contains("not a TLS handshake", reason, StringComparison.Ordinal);
        await AssertEchoAsync(healthy);
        Assert.Single(server.Logs.Messages("TlsHandshakeFailed"));
    }

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task A_handshake_that_never_finishes_is_timed_out(string transport)
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates, transport, handshakeTimeout: TimeSpan.FromMilliseconds(300));

        await using var silent = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.Port, Ct);
        await silent.WaitForServerCloseAsync(ct: Ct);

        Assert.Contains("did not finish within", await server.Logs.WaitForAsync("TlsHandshakeTimedOut", Timeout), StringComparison.Ordinal);
        Assert.Single(server.Logs.Messages("TlsHandshakeTimedOut"));
        Assert.Empty(server.Logs.Messages("TlsHandshakeFailed"));
    }

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task A_required_client_certificate_must_be_sent_trusted_and_current(string transport)
    {
        using var certificates = new TestCertificates();
        using var stranger = new TestCertificates("Stranger CA");
        await using var server = await TlsTestServer.StartAsync(certificates, transport, ClientCertificateMode.Required);

        await AssertRefusedAsync(server, certificates.RawOptions(), "no client certificate");
        await AssertRefusedAsync(server, certificates.RawOptions(certificates.CreateClient("late", expired: true)), "does not verify");
        await AssertRefusedAsync(server, certificates.RawOptions(certificates.CreateClient("foreign", issuer: stranger)), "does not verify");

        await using var valid = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, certificates.RawOptions(certificates.CreateClient("valid")), Ct);
        await AssertEchoAsync(valid);
        Assert.Equal(3, server.Logs.Messages("TlsHandshakeFailed").Count);
    }

    [Fact(Timeout = 60_000)]
    public async Task An_optional_client_certificate_may_be_left_out()
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates, clientCertificate: ClientCertificateMode.Optional);

        await using var anonymous = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, certificates.RawOptions(), Ct);
        await AssertEchoAsync(anonymous);
        await using var named = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, certificates.RawOptions(certificates.CreateClient("named")), Ct);
        await AssertEchoAsync(named);
        Assert.Empty(server.Logs.Messages("TlsHandshakeFailed"));
    }

    [Fact(Timeout = 60_000)]
    public async Task The_sdk_fails_clearly_on_an_untrusted_server_certificate_and_on_a_name_mismatch()
    {
        using var certificates = new TestCertificates();
        using var stranger = new TestCertificates("Stranger CA");
        await using var server = await TlsTestServer.StartAsync(certificates);
        string[] servers = [$"localhost:{server.Port}"];

        await using (var untrusting = new GearmanClient(GearmanClientOptions.Default with { Servers = servers, Tls = stranger.SdkOptions() }))
        {
            var error = await Assert.ThrowsAsync<GearmanConnectionException>(() => untrusting.ExecuteAsync("any", "x"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct));
            Assert.Contains("TLS handshake", error.Message, StringComparison.Ordinal);
            Assert.Contains("does not chain", error.Message, StringComparison.Ordinal);
        }

        await using var misnamed = new GearmanClient(GearmanClientOptions.Default with
        {
            Servers = servers,
            Tls = certificates.SdkOptions() with { TargetHost = "jobs.example.org" },
        });
        var mismatch = await Assert.ThrowsAsync<GearmanConnectionException>(() => misnamed.ExecuteAsync("any", "x"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct));
        Assert.Contains("does not name 'jobs.example.org'", mismatch.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task The_sdk_handshake_against_a_server_that_never_answers_times_out()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        using var certificates = new TestCertificates();
        await using var client = new GearmanClient(GearmanClientOptions.Default with
        {
            Servers = [$"localhost:{port}"],
            Tls = certificates.SdkOptions() with { HandshakeTimeout = TimeSpan.FromMilliseconds(300) },
        });

        var error = await Assert.ThrowsAsync<GearmanConnectionException>(() => client.ExecuteAsync("any", "x"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct));
        Assert.Contains("did not finish within 300 ms", error.Message, StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task The_sdk_handshakes_again_when_it_reconnects(string transport)
    {
        using var certificates = new TestCertificates();
        await using var first = await TlsTestServer.StartAsync(certificates, transport);
        int port = first.Port;
        string fn = TestNames.Unique("tls_again");
        string[] servers = [$"localhost:{port}"];
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with
        {
            Servers = servers,
            Tls = certificates.SdkOptions(),
            ReconnectDelay = TimeSpan.FromMilliseconds(50),
            MaxReconnectDelay = TimeSpan.FromMilliseconds(200),
        });
        worker.AddFunction(fn, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        await AdminProbe.WaitForWorkersAsync(first.Plaintext, fn, ct: Ct);
        await using var client = new GearmanClient(GearmanClientOptions.Default with
        {
            Servers = servers,
            Tls = certificates.SdkOptions(),
            ReconnectDelay = TimeSpan.FromMilliseconds(50),
            MaxReconnectDelay = TimeSpan.FromMilliseconds(200),
        });
        Assert.Equal("one", Encoding.UTF8.GetString((await client.ExecuteAsync(fn, "one"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct)).Span));

        await first.DisposeAsync();
        await using var second = await TlsTestServer.StartAsync(certificates, transport, port: port);
        await AdminProbe.WaitForWorkersAsync(second.Plaintext, fn, ct: Ct);

        // The first attempts may still find the port closed; one of them gets through, over a new handshake.
        var deadline = DateTime.UtcNow + Timeout;
        ReadOnlyMemory<byte> result = default;
        while (result.IsEmpty)
        {
            try
            {
                result = await client.ExecuteAsync(fn, "two"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct);
            }
            catch (GearmanConnectionException) when (DateTime.UtcNow < deadline)
            {
            }
        }

        Assert.Equal("two", Encoding.UTF8.GetString(result.Span));
        Assert.True(second.Logs.Messages("TlsConnectionOpened").Count >= 2, second.Log);
    }

    [Fact(Timeout = 60_000)]
    public async Task Per_server_tls_settings_override_the_default()
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates);
        string fn = TestNames.Unique("tls_mixed");
        string tlsEntry = $"localhost:{server.Port}";
        string plainEntry = $"127.0.0.1:{server.Plaintext.Port}";

        // TLS by default, plaintext for the entry that says so: the worker registers on both listeners of one server.
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with
        {
            Servers = [tlsEntry, plainEntry],
            Tls = certificates.SdkOptions(),
            ServerTls = new Dictionary<string, GearmanTlsOptions?> { [plainEntry] = null },
        });
        worker.AddFunction(fn, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        await AdminProbe.WaitForWorkersAsync(server.Plaintext, fn, count: 2, ct: Ct);

        await using var client = new GearmanClient(GearmanClientOptions.Default with
        {
            Servers = [tlsEntry],
            ServerTls = new Dictionary<string, GearmanTlsOptions?> { [tlsEntry] = certificates.SdkOptions() },
        });
        Assert.Equal("ok", Encoding.UTF8.GetString((await client.ExecuteAsync(fn, "ok"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct)).Span));
    }

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task A_changed_certificate_file_is_reloaded_without_dropping_connections(string transport)
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates, transport);
        await using var before = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, certificates.RawOptions(), Ct);
        await AssertEchoAsync(before);

        var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Server.SecurityReloader!.Reloaded += _ =>
        {
            if (ServedCommonName(server) == "reloaded") reloaded.TrySetResult();
        };
        var (pem, key) = certificates.WriteServerCertificate("next", commonName: "reloaded");
        File.Copy(key, certificates.ServerKeyFile, overwrite: true);
        File.Copy(pem, certificates.ServerCertificateFile, overwrite: true);
        await reloaded.Task.WaitAsync(Timeout, Ct);

        X509Certificate? seen = null;
        await using var after = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, certificates.RawOptions(serverCertificate: c => seen = c), Ct);
        await AssertEchoAsync(after);
        Assert.Equal("CN=reloaded", seen!.Subject);
        await AssertEchoAsync(before);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_reload_of_a_broken_file_keeps_the_certificate_in_use()
    {
        using var certificates = new TestCertificates();
        await using var server = await TlsTestServer.StartAsync(certificates);
        File.WriteAllText(certificates.ServerCertificateFile, "not a certificate");
        server.Server.SecurityReloader!.Reload();

        Assert.Contains(certificates.ServerCertificateFile, await server.Logs.WaitForAsync("TlsReloadFailed", Timeout), StringComparison.Ordinal);
        await using var connection = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, certificates.RawOptions(), Ct);
        await AssertEchoAsync(connection);
        Assert.Equal("localhost", ServedCommonName(server));
    }

    [Fact]
    public void Tls_settings_that_can_never_work_stop_the_start()
    {
        using var certificates = new TestCertificates();
        var missing = Assert.Throws<TlsConfigurationException>(() => ServerCertificates.Load(new ServerTlsOptions { CertificateFile = certificates.File("missing.pem") }));
        Assert.Contains("missing.pem", missing.Message, StringComparison.Ordinal);
        var noCa = Assert.Throws<TlsConfigurationException>(() => ServerCertificates.Load(new ServerTlsOptions
        {
            CertificateFile = certificates.ServerCertificateFile,
            KeyFile = certificates.ServerKeyFile,
            ClientCertificate = ClientCertificateMode.Required,
        }));
        Assert.Contains("needs --ssl-ca-file", noCa.Message, StringComparison.Ordinal);
        var noKey = Assert.Throws<TlsConfigurationException>(() => ServerCertificates.Load(new ServerTlsOptions { CertificateFile = certificates.ServerCertificateFile }));
        Assert.Contains(certificates.ServerCertificateFile, noKey.Message, StringComparison.Ordinal);
    }

    private static string ServedCommonName(TlsTestServer server)
        => server.Server.Services.GetService(typeof(ServerCertificates)) is ServerCertificates c ? c.Certificate.GetNameInfo(X509NameType.SimpleName, false) : "?";

    private static async Task AssertEchoAsync(RawGearmanConnection connection)
    {
        await connection.SendAsync(PacketType.EchoReq, "ping");
        var reply = await connection.ReadPacketAsync(ct: Ct);
        Assert.Equal((uint)PacketType.EchoRes, reply.Type);
    }

    /// <summary>
    /// A refused client certificate fails the handshake on the client, or (TLS 1.3, where the client finishes first)
    /// closes the connection before the first reply; either way the server logs why.
    /// </summary>
    private static async Task AssertRefusedAsync(TlsTestServer server, System.Net.Security.SslClientAuthenticationOptions options, string reason)
    {
        int logged = server.Logs.Messages("TlsHandshakeFailed").Count;
        try
        {
            await using var connection = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", server.Port, options, Ct);
            await connection.SendAsync(PacketType.EchoReq, "ping");
            await Assert.ThrowsAsync<EndOfStreamException>(() => connection.ReadPacketAsync(ct: Ct));
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }

        var messages = await server.Logs.WaitForCountAsync("TlsHandshakeFailed", logged + 1, Timeout);
        Assert.Contains(reason, messages[^1], StringComparison.Ordinal);
    }
}
