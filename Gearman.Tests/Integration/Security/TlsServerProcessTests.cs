using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Gearman.Reactive.Protocol;
using Gearman.Server.Security;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Security;

/// <summary>Our server as a process with <c>--ssl</c>: SIGHUP reloads its certificates without dropping connections; bad settings stop it.</summary>
[Trait("Category", "Integration")]
public sealed class TlsServerProcessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 90_000)]
    public Task Sighup_reloads_the_certificate_and_keeps_open_connections() => SighupReloadsAsync(launcher: null);

    /// <summary>
    /// Under nohup the process inherits SIGHUP ignored, which .NET would keep: the server sets it back, says so, and
    /// still reloads on the signal.
    /// </summary>
    [Fact(Timeout = 90_000)]
    public Task Sighup_reloads_the_certificate_even_when_started_under_nohup() => SighupReloadsAsync(launcher: "nohup");

    private static async Task SighupReloadsAsync(string? launcher)
    {
        using var certificates = new TestCertificates();
        using var files = new TempDirectory("tls-hup");
        string live = Path.Combine(files.Path, "live");
        Directory.CreateDirectory(live);
        File.Copy(certificates.ServerCertificateFile, Path.Combine(live, "server.pem"));
        File.Copy(certificates.ServerKeyFile, Path.Combine(live, "server.key"));
        await using var server = await ServerProcess.StartAsync(
            ["--queue-type", "memory", "--ssl", "--ssl-certificate", Path.Combine(live, "server.pem"), "--ssl-key", Path.Combine(live, "server.key")],
            ct: Ct,
            launcher: launcher);
        await using var before = await ConnectAsync(certificates, server.Port);
        Assert.Equal("CN=localhost", before.Subject);

        // Swap the directory itself, which the file watcher cannot follow: only the signal can pick the new files up.
        Directory.Move(live, Path.Combine(files.Path, "old"));
        Directory.CreateDirectory(live);
        var (pem, key) = certificates.WriteServerCertificate("next", commonName: "reloaded");
        File.Copy(pem, Path.Combine(live, "server.pem"));
        File.Copy(key, Path.Combine(live, "server.key"));
        await using (var hup = await ExternalProgram.RunAsync("kill", ["-HUP", server.ProcessId.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10)))
        {
            Assert.Equal(0, await hup.WaitForExitAsync());
        }

        // The reload runs on a timer thread right after the signal; new handshakes see it once it has run.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        string subject;
        do
        {
            await using var after = await ConnectAsync(certificates, server.Port);
            subject = after.Subject;
        }
        while (subject != "CN=reloaded" && DateTime.UtcNow < deadline);

        Assert.True(subject == "CN=reloaded", $"New handshakes still saw {subject} 20 s after SIGHUP.\n{server.Process.Transcript()}");
        await before.Connection.SendAsync(PacketType.EchoReq, "still open");
        Assert.Equal("still open", (await before.Connection.ExpectPacketAsync(PacketType.EchoRes, ct: Ct)).BodyText);
        Assert.False(server.Process.HasExited);
        // A test host run under nohup passes SIGHUP ignored to every server it starts.
        Assert.Equal(launcher is not null || HangUpSignal.IsIgnored(), server.Log.Contains("SIGHUP was ignored when the server started", StringComparison.Ordinal));
    }

    [Theory(Timeout = 60_000)]
    [InlineData("--ssl-client-cert maybe", "Invalid --ssl-client-cert 'maybe'", 2)]
    [InlineData("--ssl", "--ssl needs --ssl-certificate FILE", 2)]
    [InlineData("--ssl-certificate x.pem", "--ssl-certificate needs --ssl", 2)]
    [InlineData("--ssl-handshake-timeout 0", "--ssl-handshake-timeout must be a positive number", 2)]
    [InlineData("--ssl --ssl-certificate missing.pem", "Could not load the server certificate missing.pem", 1)]
    [InlineData("--access-rules missing.json", "Could not read the access rules file missing.json", 1)]
    public async Task The_command_line_refuses_tls_settings_that_cannot_work(string arguments, string message, int exitCode)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        await using var bad = await ExternalProgram.RunAsync(
            dotnet, [ServerProcess.ServerAssembly, "--port", "0", "--listen", "127.0.0.1", "--queue-type", "memory", .. arguments.Split(' ')], TimeSpan.FromSeconds(30));
        Assert.Equal(exitCode, await bad.WaitForExitAsync());
        Assert.Contains(message, bad.StandardError, StringComparison.Ordinal);
    }

    private static async Task<Seen> ConnectAsync(TestCertificates certificates, int port)
    {
        X509Certificate? seen = null;
        var connection = await RawGearmanConnection.ConnectTlsAsync("127.0.0.1", port, certificates.RawOptions(serverCertificate: c => seen = c), Ct);
        return new Seen(connection, seen!.Subject);
    }

    private sealed record Seen(RawGearmanConnection Connection, string Subject) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Connection.DisposeAsync();
    }
}
