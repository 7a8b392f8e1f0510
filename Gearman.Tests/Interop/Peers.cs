using System.Globalization;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop;

/// <summary>Starts the interop peers (Programs/*) against a server under test.</summary>
internal static class Peers
{
    /// <summary>Bound for one peer run (a client waiting for its job, a worker draining a queue).</summary>
    public static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(20);

    private static string Port(IServerUnderTest server) => server.Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Starts <c>gm_worker</c> for <paramref name="function"/> in <paramref name="mode"/> and waits until the server lists it.</summary>
    public static Task<ExternalProgram> StartCWorkerAsync(IServerUnderTest server, string function, string mode, params string[] options)
        => StartCWorkerAsync(server, function, mode, options, expectedWorkers: 1);

    /// <summary>Starts <c>gm_worker</c> and waits until the server lists <paramref name="expectedWorkers"/> workers for the function.</summary>
    public static async Task<ExternalProgram> StartCWorkerAsync(IServerUnderTest server, string function, string mode, IReadOnlyList<string> options, int expectedWorkers)
    {
        var worker = ExternalProgram.Start(await CPrograms.GetAsync("gm_worker"), [server.Host, Port(server), function, mode, .. options], keepInputOpen: mode == "hold");
        await WaitUntilRegisteredAsync(server, function, expectedWorkers, worker);
        return worker;
    }

    /// <summary>
    /// Waits for the <c>job</c> line of a worker that ran one job and may still be running (its stdout can arrive after
    /// the client has the result), checks that it is the worker's only line, and returns it.
    /// </summary>
    public static async Task<string> SoleJobLineAsync(ExternalProgram worker, CancellationToken ct)
    {
        string line = await worker.WaitForLineAsync(l => l.StartsWith("job ", StringComparison.Ordinal), ct: ct);
        Assert.Single(worker.OutputLines);
        return line;
    }

    /// <summary>Starts <c>gm_client</c> (it runs until its tasks finish).</summary>
    public static async Task<ExternalProgram> StartCClientAsync(IServerUnderTest server, params string[] args)
        => ExternalProgram.Start(await CPrograms.GetAsync("gm_client"), [server.Host, Port(server), .. args]);

    /// <summary>Runs <c>gm_client</c> to completion and returns its stdout lines.</summary>
    public static async Task<IReadOnlyList<string>> RunCClientAsync(IServerUnderTest server, params string[] args)
    {
        await using var client = await StartCClientAsync(server, args);
        int exit = await client.WaitForExitAsync(RunTimeout);
        Assert.True(exit == 0, client.Transcript());
        return client.OutputLines;
    }

    /// <summary>Starts <c>perl_worker.pl</c> and waits until the server lists it.</summary>
    public static async Task<ExternalProgram> StartPerlWorkerAsync(IServerUnderTest server, string function, int? count = null, PerlTls? tls = null)
    {
        string[] args = [Script("perl_worker.pl"), server.Host, Port(server), function];
        if (count is { } n) args = [.. args, n.ToString(CultureInfo.InvariantCulture)];
        var worker = ExternalProgram.Start(await Perl(), args, tls?.Environment());
        await WaitUntilRegisteredAsync(tls?.Probe ?? server, function, 1, worker);
        return worker;
    }

    /// <summary>Runs <c>perl_client.pl</c> to completion and returns its stdout lines.</summary>
    public static Task<IReadOnlyList<string>> RunPerlClientAsync(IServerUnderTest server, params string[] args) => RunPerlClientAsync(server, tls: null, args);

    /// <summary>Runs <c>perl_client.pl</c> over TLS (<paramref name="tls"/>) to completion and returns its stdout lines.</summary>
    public static async Task<IReadOnlyList<string>> RunPerlClientAsync(IServerUnderTest server, PerlTls? tls, params string[] args)
    {
        await using var client = await StartPerlClientAsync(server, tls, args);
        int exit = await client.WaitForExitAsync(RunTimeout);
        Assert.True(exit == 0, client.Transcript());
        return client.OutputLines;
    }

    /// <summary>Starts <c>perl_client.pl</c> (over TLS with <paramref name="tls"/>), for tests that check how it fails.</summary>
    public static async Task<ExternalProgram> StartPerlClientAsync(IServerUnderTest server, PerlTls? tls, params string[] args)
        => ExternalProgram.Start(await Perl(), [Script("perl_client.pl"), server.Host, Port(server), .. args], tls?.Environment());

    /// <summary>
    /// Waits until the server lists the worker, or until the worker exits (a worker with a job count may find its jobs
    /// queued, finish them and exit before a status poll sees it; the test then checks its exit and output).
    /// </summary>
    private static async Task WaitUntilRegisteredAsync(IServerUnderTest server, string function, int expectedWorkers, ExternalProgram worker)
    {
        using var exited = new CancellationTokenSource();
        var registered = AdminProbe.WaitForWorkersAsync(server, function, expectedWorkers, ct: exited.Token);
        try
        {
            if (await Task.WhenAny(registered, worker.Exited) == registered)
            {
                await registered;
                return;
            }

            exited.Cancel();
            await registered;
        }
        catch (OperationCanceledException) when (exited.IsCancellationRequested)
        {
            // The worker exited first.
        }
        catch (TimeoutException ex)
        {
            string transcript = worker.Transcript();
            await worker.DisposeAsync();
            throw new TimeoutException($"{ex.Message}\n{transcript}", ex);
        }
    }

    private static string Script(string name) => Path.Combine(CPrograms.SourceDirectory, name);

    private static readonly Lazy<Task<string>> PerlChecked = new(CheckPerlAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    private static Task<string> Perl() => PerlChecked.Value;

    private static async Task<string> CheckPerlAsync()
    {
        const string perl = "/usr/bin/perl";
        if (!File.Exists(perl)) throw new InvalidOperationException("perl not found: install the Debian package 'perl'.");
        await using var probe = await ExternalProgram.RunAsync(perl, ["-MGearman::Client", "-MGearman::Worker", "-e", "1"], RunTimeout);
        if (await probe.WaitForExitAsync() != 0)
        {
            throw new InvalidOperationException(
                "Gearman::Client / Gearman::Worker not found. Interop tests are required and never skipped: install the Debian " +
                $"package 'libgearman-client-perl', or run .ci/run, which installs it.\n{probe.Transcript()}");
        }

        return perl;
    }
}

/// <summary>TLS settings for the Perl peers (IO::Socket::SSL), and the plaintext view of the server to probe registrations through.</summary>
internal sealed record PerlTls(IServerUnderTest Probe, string CaFile, string? CertificateFile = null, string? KeyFile = null)
{
    public IReadOnlyDictionary<string, string> Environment()
    {
        var environment = new Dictionary<string, string> { ["GEARMAN_TLS_CA"] = CaFile };
        if (CertificateFile is not null) environment["GEARMAN_TLS_CERT"] = CertificateFile;
        if (KeyFile is not null) environment["GEARMAN_TLS_KEY"] = KeyFile;
        return environment;
    }
}
