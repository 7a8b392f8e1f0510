using System.Text;
using Gearman.Reactive.Client;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Server.Security;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Security;

/// <summary>Access rules by client-certificate identity (<c>--access-rules</c>) on both transports.</summary>
[Trait("Category", "Integration")]
public sealed class AccessControlTests
{
    private const string Rules = """
        {
          // worker-1 serves the acl_ functions; app-1 submits to them; ops may use mutating admin commands.
          "identities": {
            "worker-1": { "canDo": ["acl_*"] },
            "app-1": { "submit": ["acl_*"] },
            "ops": { "submit": ["*"], "admin": true }
          }
        }
        """;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task An_identity_denied_can_do_gets_an_error_and_keeps_its_connection(string transport)
    {
        await using var setup = await Setup.StartAsync(transport);
        await using var app = await setup.ConnectAsync("app-1");
        string fn = TestNames.Unique("acl");

        await app.SendAsync(PacketType.CanDo, fn);
        var error = await app.ExpectPacketAsync(PacketType.Error, ct: Ct);
        Assert.Equal(["PERMISSION_DENIED", $"identity 'app-1' may not register function '{fn}'"], error.Strings());
        Assert.Contains($"may not register function '{fn}'", await setup.Server.Logs.WaitForAsync("AccessDenied", Timeout), StringComparison.Ordinal);
        Assert.Contains("CN=app-1", setup.Server.Logs.Messages("AccessDenied")[0], StringComparison.Ordinal);

        await app.SendAsync(PacketType.EchoReq, "still here");
        Assert.Equal("still here", (await app.ExpectPacketAsync(PacketType.EchoRes, ct: Ct)).BodyText);
        var status = await AdminProbe.StatusOfAsync(setup.Server.Plaintext, fn);
        Assert.True(status is null || status.Workers == 0, $"the denied CAN_DO registered: {status}");
    }

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task An_identity_denied_submit_gets_an_error_and_no_job_is_queued(string transport)
    {
        await using var setup = await Setup.StartAsync(transport);
        await using var worker = await setup.ConnectAsync("worker-1");
        string fn = TestNames.Unique("acl");

        await worker.SendAsync(PacketType.SubmitJobBg, fn, string.Empty, "payload");
        var error = await worker.ExpectPacketAsync(PacketType.Error, ct: Ct);
        Assert.Equal(["PERMISSION_DENIED", $"identity 'worker-1' may not submit to function '{fn}'"], error.Strings());

        await worker.SendAsync(PacketType.SubmitJob, "other_fn", string.Empty, "payload");
        Assert.Equal("PERMISSION_DENIED", (await worker.ExpectPacketAsync(PacketType.Error, ct: Ct)).Strings()[0]);
        var status = await AdminProbe.StatusOfAsync(setup.Server.Plaintext, fn);
        Assert.True(status is null || status.Total == 0, $"the denied submit queued a job: {status}");
    }

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task Mutating_admin_commands_need_the_admin_right_and_read_only_ones_do_not(string transport)
    {
        await using var setup = await Setup.StartAsync(transport);
        await using var app = await setup.ConnectAsync("app-1");
        await using var ops = await setup.ConnectAsync("ops");

        Assert.Equal("ERR PERMISSION_DENIED This+identity+may+not+use+mutating+admin+commands", await app.AdminAsync("cancel job H:nowhere:1"));
        Assert.StartsWith("ERR PERMISSION_DENIED", await app.AdminAsync("drop function acl_x"), StringComparison.Ordinal);
        Assert.StartsWith("ERR PERMISSION_DENIED", await app.AdminAsync("maxqueue acl_x 5"), StringComparison.Ordinal);
        Assert.StartsWith("OK ", await app.AdminAsync("version"), StringComparison.Ordinal);
        Assert.Contains("may not use the admin command 'cancel'", await setup.Server.Logs.WaitForAsync("AccessDenied", Timeout), StringComparison.Ordinal);

        Assert.Equal("ERR UNKNOWN_JOB", await ops.AdminAsync("cancel job H:nowhere:1"));
        Assert.Equal("OK", await ops.AdminAsync("maxqueue acl_x 5"));
    }

    [Theory(Timeout = 60_000)]
    [InlineData("epoll")]
    [InlineData("kestrel")]
    public async Task Allowed_identities_are_unaffected(string transport)
    {
        await using var setup = await Setup.StartAsync(transport);
        string fn = TestNames.Unique("acl");
        string[] servers = [$"localhost:{setup.Server.Port}"];

        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = servers, Tls = setup.Certificates.SdkOptions(setup.Certificates.CreateClient("worker-1")) });
        worker.AddFunction(fn, (job, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes("done " + Encoding.UTF8.GetString(job.Workload.Span))), GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        await AdminProbe.WaitForWorkersAsync(setup.Server.Plaintext, fn, ct: Ct);

        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = servers, Tls = setup.Certificates.SdkOptions(setup.Certificates.CreateClient("app-1")) });
        var result = await client.ExecuteAsync(fn, "job"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct);
        Assert.Equal("done job", Encoding.UTF8.GetString(result.Span));
        Assert.Empty(setup.Server.Logs.Messages("AccessDenied"));
    }

    [Fact(Timeout = 60_000)]
    public async Task An_sdk_worker_denied_one_function_still_serves_its_others()
    {
        await using var setup = await Setup.StartAsync(transport: null);
        string allowed = TestNames.Unique("acl");
        string denied = TestNames.Unique("forbidden");
        string[] servers = [$"localhost:{setup.Server.Port}"];
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = servers, Tls = setup.Certificates.SdkOptions(setup.Certificates.CreateClient("worker-1")) });
        worker.AddFunction(denied, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);
        worker.AddFunction(allowed, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        await AdminProbe.WaitForWorkersAsync(setup.Server.Plaintext, allowed, ct: Ct);

        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = servers, Tls = setup.Certificates.SdkOptions(setup.Certificates.CreateClient("ops")) });
        Assert.Equal("ok", Encoding.UTF8.GetString((await client.ExecuteAsync(allowed, "ok"u8.ToArray(), cancellationToken: Ct).AsTask().WaitAsync(Timeout, Ct)).Span));
        Assert.Contains($"may not register function '{denied}'", await setup.Server.Logs.WaitForAsync("AccessDenied", Timeout), StringComparison.Ordinal);
        var status = await AdminProbe.StatusOfAsync(setup.Server.Plaintext, denied);
        Assert.True(status is null || status.Workers == 0, $"the denied function registered: {status}");
    }

    [Fact(Timeout = 60_000)]
    public async Task A_connection_without_a_certificate_gets_the_anonymous_rule()
    {
        await using var setup = await Setup.StartAsync(transport: null);
        await using var plain = await RawGearmanConnection.ConnectAsync(setup.Server.Plaintext);

        await plain.SendAsync(PacketType.CanDo, "acl_anything");
        var error = await plain.ExpectPacketAsync(PacketType.Error, ct: Ct);
        Assert.Equal(["PERMISSION_DENIED", "a connection without a client certificate may not register function 'acl_anything'"], error.Strings());
        Assert.StartsWith("ERR PERMISSION_DENIED", await plain.AdminAsync("cancel job H:x:1"), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task Changed_rules_apply_to_the_next_request_of_an_open_connection()
    {
        await using var setup = await Setup.StartAsync(transport: null);
        await using var app = await setup.ConnectAsync("app-1");
        Assert.StartsWith("ERR PERMISSION_DENIED", await app.AdminAsync("maxqueue acl_x 5"), StringComparison.Ordinal);

        File.WriteAllText(setup.RulesFile, """{ "identities": { "app-1": { "admin": true } } }""");
        setup.Server.Server.SecurityReloader!.Reload();

        Assert.Equal("OK", await app.AdminAsync("maxqueue acl_x 5"));
    }

    /// <summary>A test CA, the rules file and a TLS server that optionally takes client certificates.</summary>
    private sealed class Setup : IAsyncDisposable
    {
        private Setup(TestCertificates certificates, string rulesFile, TlsTestServer server)
        {
            Certificates = certificates;
            RulesFile = rulesFile;
            Server = server;
        }

        public TestCertificates Certificates { get; }

        public string RulesFile { get; }

        public TlsTestServer Server { get; }

        public static async Task<Setup> StartAsync(string? transport)
        {
            var certificates = new TestCertificates();
            string rules = certificates.File("rules.json");
            File.WriteAllText(rules, Rules);
            return new Setup(certificates, rules, await TlsTestServer.StartAsync(certificates, transport, ClientCertificateMode.Optional, rules));
        }

        /// <summary>A raw TLS connection with a client certificate for <paramref name="identity"/>.</summary>
        public Task<RawGearmanConnection> ConnectAsync(string identity)
            => RawGearmanConnection.ConnectTlsAsync("127.0.0.1", Server.Port, Certificates.RawOptions(Certificates.CreateClient(identity)), Ct);

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            Certificates.Dispose();
        }
    }
}
