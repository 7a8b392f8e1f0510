using Gearman.Reactive.Client;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Packaging;

/// <summary>
/// The server as a dotnet tool: packs the already built Gearman.Server (as <c>dotnet pack</c> does, without rebuilding),
/// installs the package from a local folder as docs/server.md says, starts <c>gearman-server</c> and runs a job on it.
/// Also checks what the SDK package carries (README, XML docs, symbols).
/// </summary>
[Trait("Category", "Integration")]
public sealed class DotnetToolTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 600_000)]
    public async Task The_packed_tool_installs_from_a_local_folder_and_serves_jobs()
    {
        using var temp = new TempDirectory();
        string packages = Path.Combine(temp.Path, "packages");
        string tools = Path.Combine(temp.Path, "tools");
        const string version = "0.0.1-tooltest";

        await RunAsync("dotnet", ["pack", Path.Combine(RepositoryRoot, "Gearman.Server", "Gearman.Server.csproj"), "-c", Configuration, "--no-build", "--no-restore", "-o", packages, $"-p:Version={version}"]);
        await RunAsync("dotnet", ["pack", Path.Combine(RepositoryRoot, "Gearman.Reactive", "Gearman.Reactive.csproj"), "-c", Configuration, "--no-build", "--no-restore", "-o", packages, $"-p:Version={version}"]);
        Assert.True(File.Exists(Path.Combine(packages, $"Gearman.Server.{version}.nupkg")));
        using (var sdk = System.IO.Compression.ZipFile.OpenRead(Path.Combine(packages, $"Gearman.Reactive.{version}.nupkg")))
        {
            var entries = sdk.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
            Assert.Contains("README.md", entries);
            Assert.Contains("lib/net10.0/Gearman.Reactive.dll", entries);
            Assert.Contains("lib/net10.0/Gearman.Reactive.xml", entries);
        }

        Assert.True(File.Exists(Path.Combine(packages, $"Gearman.Reactive.{version}.snupkg")));

        // A package cache of its own, so that a package of this version cached by an earlier run is not installed instead.
        await RunAsync("dotnet", ["tool", "install", "Gearman.Server", "--tool-path", tools, "--add-source", packages, "--version", version, "--ignore-failed-sources"], Path.Combine(temp.Path, "nuget"));
        string executable = Path.Combine(tools, "gearman-server");
        Assert.True(File.Exists(executable), $"{executable} was not installed");

        await using var server = await ServerProcess.StartAsync(["--queue-type", "memory"], ct: Ct, executable: executable);
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [$"127.0.0.1:{server.Port}"] });
        var ping = Assert.Single(await client.PingAsync(Ct));
        Assert.True(ping.Succeeded, ping.Error?.ToString());
    }

    /// <summary>The folder holding Gearman.sln, above the test assembly.</summary>
    private static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Gearman.sln"))) return dir.FullName;
            }

            throw new InvalidOperationException($"Gearman.sln not found above {AppContext.BaseDirectory}.");
        }
    }

    private static async Task RunAsync(string program, IEnumerable<string> arguments, string? packageCache = null)
    {
        var environment = new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" };
        if (packageCache is not null) environment["NUGET_PACKAGES"] = packageCache;
        await using var run = await ExternalProgram.RunAsync(program, arguments, TimeSpan.FromMinutes(5), environment);
        int exit = await run.WaitForExitAsync(TimeSpan.FromMinutes(5));
        Assert.True(exit == 0, $"{run.Description} exited with {exit}.\n{run.Transcript()}");
    }
}
