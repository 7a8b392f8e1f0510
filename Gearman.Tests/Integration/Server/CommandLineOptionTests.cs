using System.Globalization;
using System.Net;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Conformance;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Server;

/// <summary>The command line of issue 14: <c>-r http</c>, <c>--monitor-port</c>, <c>--pid-file</c>, the drain on SIGTERM, Debian's refused options.</summary>
[Trait("Category", "Integration")]
public sealed class CommandLineOptionTests
{
    [Fact]
    public async Task Http_monitoring_and_pid_file_from_the_command_line()
    {
        using var temp = new TempDirectory();
        string pidFile = temp.File("gearmand.pid");
        var ct = TestContext.Current.CancellationToken;
        await using var server = await ServerProcess.StartAsync(["--queue-type", "memory", "-P", pidFile, "-r", "http", "--http-port", "0", "--monitor-port", "0"], ct: ct);
        int httpPort = await PortFromLineAsync(server, "HTTP job protocol on ");
        int monitorPort = await PortFromLineAsync(server, "Monitoring on ");
        await WaitForFileAsync(pidFile);
        Assert.Equal(server.ProcessId.ToString(CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(pidFile, ct)).Trim());

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var submit = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{httpPort}/{TestNames.Unique("cli")}") { Content = new ByteArrayContent("x"u8.ToArray()) };
        submit.Headers.Add("X-Gearman-Background", "true");
        using var created = await http.SendAsync(submit, ct);
        Assert.Equal("JOB_CREATED", created.Headers.GetValues("X-Gearman-Command").Single());
        Assert.Equal("ok\n", await http.GetStringAsync($"http://127.0.0.1:{monitorPort}/healthz", ct));

        Assert.Equal(0, await server.StopAsync());
        Assert.False(File.Exists(pidFile), "the pid file is removed on a clean exit");
    }

    [Fact]
    public async Task Sigterm_with_a_shutdown_timeout_lets_the_running_job_finish()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await ServerProcess.StartAsync(["--queue-type", "memory", "--shutdown-timeout", "30"], ct: ct);
        var (client, worker, handle) = await ShutdownAndSocketOptionTests.StartRunningJobAsync(server.Port);
        await using var clientConnection = client;
        await using var workerConnection = worker;

        var exited = server.StopAsync();
        await ShutdownAndSocketOptionTests.AssertTurnedAwayAsync(server.Port); // the signal started the drain
        Assert.False(exited.IsCompleted, "the server must wait for the running job");
        await worker.SendAsync(PacketType.WorkComplete, handle, "result");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0result");
        Assert.Equal(0, await exited);
    }

    [Fact]
    public async Task A_second_sigterm_during_the_drain_still_waits_for_the_running_job()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await ServerProcess.StartAsync(["--queue-type", "memory", "--shutdown-timeout", "30"], ct: ct);
        var (client, worker, handle) = await ShutdownAndSocketOptionTests.StartRunningJobAsync(server.Port);
        await using var clientConnection = client;
        await using var workerConnection = worker;

        var exited = server.StopAsync();
        await ShutdownAndSocketOptionTests.AssertTurnedAwayAsync(server.Port); // the first signal started the drain
        await using (var kill = await ExternalProgram.RunAsync("kill", ["-TERM", server.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10)))
        {
            Assert.Equal(0, await kill.WaitForExitAsync());
        }

        // The scheduler still runs: the worker's result reaches the client, and only then does the server exit.
        Assert.False(exited.IsCompleted, "the server must wait for the running job");
        await worker.SendAsync(PacketType.WorkComplete, handle, "result");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0result");
        Assert.Equal(0, await exited);
    }

    [Theory]
    [InlineData("--daemon", "--daemon is not supported")]
    [InlineData("--syslog", "--syslog is not supported")]
    [InlineData("--config-file=/etc/gearmand.conf", "--config-file is not supported")]
    [InlineData("--user=nobody-such-user", "cannot switch users")]
    [InlineData("--http-port=8080", "--http-port needs -r http")]
    [InlineData("-r=memcache", "Unknown --protocol 'memcache'")]
    [InlineData("--unique-jobs-layout=3", "Invalid --unique-jobs-layout")]
    public async Task Options_that_cannot_work_are_refused_with_a_reason(string option, string reason)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        await using var run = await ExternalProgram.RunAsync(dotnet, [ServerProcess.ServerAssembly, "--queue-type", "memory", "--port", "0", "--listen", "127.0.0.1", option], TimeSpan.FromSeconds(60));
        Assert.Equal(2, await run.WaitForExitAsync());
        Assert.Contains(reason, run.StandardError, StringComparison.Ordinal);
    }

    private static async Task<int> PortFromLineAsync(ServerProcess server, string prefix)
    {
        string line = await server.Process.WaitForLineAsync(l => l.StartsWith(prefix, StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        return IPEndPoint.Parse(line[prefix.Length..].Trim()).Port;
    }

    /// <summary>The pid file is written right after the "Listening" lines; wait for it against a deadline.</summary>
    private static async Task WaitForFileAsync(string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!File.Exists(path) || new FileInfo(path).Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{path} was not written");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
