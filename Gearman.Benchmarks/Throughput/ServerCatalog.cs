namespace Gearman.Benchmarks.Throughput;

/// <summary>How to launch one job server on a given loopback port.</summary>
/// <param name="Name">Command-line and table name.</param>
/// <param name="Description">What runs, for the report.</param>
/// <param name="Command">Executable and arguments for a port.</param>
/// <param name="StartTimeout">How long it may take to accept connections.</param>
internal sealed record ServerSpec(string Name, string Description, Func<int, IReadOnlyList<string>> Command, TimeSpan StartTimeout);

/// <summary>The servers the harness compares.</summary>
internal static class ServerCatalog
{
    public const string Gearmand = "gearmand";
    public const string Ours = "ours";

    public static IReadOnlyList<string> Names { get; } = [Gearmand, Ours];

    public static ServerSpec Create(string name, ThroughputOptions options) => name switch
    {
        // -t 1: one I/O thread is gearmand's fastest setting on 2 cores (issue 6).
        Gearmand => new(
            Gearmand,
            $"{options.GearmandPath} -t 1 -L 127.0.0.1 -p PORT -l stderr",
            port => [options.GearmandPath, "-t", "1", "-L", "127.0.0.1", "-p", Port(port), "-l", "stderr"],
            TimeSpan.FromSeconds(10)),
        Ours => OurServer(options),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown server"),
    };

    /// <summary>
    /// Our server: a Gearman.Server.dll runs under the dotnet host; any other path (the apphost, a published or AOT
    /// build) is executed directly. Either way it gets <c>--listen 127.0.0.1 --port PORT --queue-type …</c>.
    /// </summary>
    private static ServerSpec OurServer(ThroughputOptions options)
    {
        string path = Path.GetFullPath(options.OurServerPath ?? FindOurServer());
        string[] launcher = path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? [FindDotnetHost(), path] : [path];
        // Never the default ./gearman-queue.db: a queue left by an earlier run would be replayed into this one.
        string[] Queue() => options.OurQueueType == "sqlite"
            ? ["--queue-type", "sqlite", "--sqlite-db", Path.Combine(Path.GetTempPath(), $"gearman-bench-{Guid.NewGuid():N}.db")]
            : ["--queue-type", "memory"];
        return new(
            Ours,
            $"{string.Join(' ', launcher)} --listen 127.0.0.1 --port PORT --queue-type {options.OurQueueType}",
            port => [.. launcher, "--listen", "127.0.0.1", "--port", Port(port), .. Queue()],
            TimeSpan.FromSeconds(30));
    }

    private static string Port(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Gearman.Server.dll as built alongside this harness: the project reference copies it (with its runtimeconfig)
    /// next to us; otherwise the server project's own output of the same configuration.
    /// </summary>
    private static string FindOurServer()
    {
        string here = AppContext.BaseDirectory;
        string beside = Path.Combine(here, "Gearman.Server.dll");
        if (File.Exists(beside) && File.Exists(Path.Combine(here, "Gearman.Server.runtimeconfig.json"))) return beside;

        string configuration = here.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gearman.sln")))
            {
                return Path.Combine(dir.FullName, "Gearman.Server", "bin", configuration, "net10.0", "Gearman.Server.dll");
            }
        }

        return beside;
    }

    private static string FindDotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") return Environment.ProcessPath!;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            string candidate = Path.Combine(dir, "dotnet");
            if (dir.Length > 0 && File.Exists(candidate)) return candidate;
        }

        return "dotnet";
    }
}
