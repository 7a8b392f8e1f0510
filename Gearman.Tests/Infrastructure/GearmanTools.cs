namespace Gearman.Tests.Infrastructure;

/// <summary>The command-line peers from Debian's gearman-tools: <c>gearman</c> and <c>gearadmin</c>.</summary>
public static class GearmanTools
{
    /// <summary>The <c>gearman</c> client/worker CLI.</summary>
    public const string Gearman = "/usr/bin/gearman";

    /// <summary>The <c>gearadmin</c> admin CLI.</summary>
    public const string Gearadmin = "/usr/bin/gearadmin";

    /// <summary>Bound for one short CLI run.</summary>
    public static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Starts <c>gearman -h HOST -p PORT args...</c>.</summary>
    public static ExternalProgram StartGearman(IServerUnderTest server, params string[] args)
        => ExternalProgram.Start(Require(Gearman), [.. HostPort(server), .. args]);

    /// <summary>Runs <c>gearman -h HOST -p PORT args...</c> to completion.</summary>
    public static Task<ExternalProgram> RunGearmanAsync(IServerUnderTest server, params string[] args)
        => ExternalProgram.RunAsync(Require(Gearman), [.. HostPort(server), .. args], RunTimeout);

    /// <summary>Runs <c>gearadmin -h HOST -p PORT args...</c> to completion.</summary>
    public static Task<ExternalProgram> RunGearadminAsync(IServerUnderTest server, params string[] args)
        => ExternalProgram.RunAsync(Require(Gearadmin), [.. HostPort(server), .. args], RunTimeout);

    private static string[] HostPort(IServerUnderTest server)
        => ["-h", server.Host, "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)];

    private static string Require(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidOperationException(
                $"{path} not found. Interop tests are required and never skipped: install the Debian package 'gearman-tools' " +
                "(apt-get install gearman-tools), or run .ci/run, which installs it.");
        }

        return path;
    }
}
