using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Compiles the C peers in <c>Interop/Programs/*.c</c> (copied next to the test assembly) against libgearman, once per
/// test run and source hash, into a temporary directory that is removed when the test host exits.
/// </summary>
public static class CPrograms
{
    private const string Compiler = "gcc";

    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> Built = new(StringComparer.Ordinal);
    private static readonly Lazy<string> OutputDirectory = new(CreateOutputDirectory, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Where the sources are at run time.</summary>
    public static string SourceDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "Interop", "Programs");

    /// <summary>Returns the path of the executable built from <c>Interop/Programs/<paramref name="name"/>.c</c>, compiling it first if needed.</summary>
    public static Task<string> GetAsync(string name)
    {
        string source = Path.Combine(SourceDirectory, name + ".c");
        if (!File.Exists(source)) throw new FileNotFoundException($"C test program source not found: {source}", source);
        byte[] bytes = File.ReadAllBytes(source);
        string key = name + "-" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];
        return Built.GetOrAdd(key, k => new Lazy<Task<string>>(() => CompileAsync(source, k), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    /// <summary>Starts the program <paramref name="name"/> with <paramref name="arguments"/>.</summary>
    public static async Task<ExternalProgram> StartAsync(string name, params string[] arguments)
        => ExternalProgram.Start(await GetAsync(name), arguments);

    /// <summary>Starts the program <paramref name="name"/> with its standard input kept open (see <see cref="ExternalProgram.WriteInputLineAsync"/>).</summary>
    public static async Task<ExternalProgram> StartWithInputAsync(string name, params string[] arguments)
        => ExternalProgram.Start(await GetAsync(name), arguments, keepInputOpen: true);

    /// <summary>Runs the program <paramref name="name"/> to completion.</summary>
    public static async Task<ExternalProgram> RunAsync(string name, TimeSpan timeout, params string[] arguments)
        => await ExternalProgram.RunAsync(await GetAsync(name), arguments, timeout);

    private static async Task<string> CompileAsync(string source, string key)
    {
        string output = Path.Combine(OutputDirectory.Value, key);
        ExternalProgram gcc;
        try
        {
            gcc = await ExternalProgram.RunAsync(
                Compiler,
                ["-std=gnu11", "-O1", "-Wall", "-Werror", "-Wno-deprecated-declarations", "-o", output, source, "-lgearman"],
                TimeSpan.FromSeconds(120));
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException(
                "gcc is needed to build the libgearman interop peers and could not be started. Interop tests are required and " +
                "never skipped: install the Debian packages 'gcc' and 'libgearman-dev', or run .ci/run, which installs them.", ex);
        }

        await using (gcc)
        {
            if (gcc.StandardError.Contains("libgearman", StringComparison.Ordinal) && gcc.StandardError.Contains("No such file", StringComparison.Ordinal)
                || gcc.StandardError.Contains("cannot find -lgearman", StringComparison.Ordinal))
            {
                throw new InvalidOperationException(
                    "libgearman headers or library are missing. Interop tests are required and never skipped: install the Debian " +
                    $"package 'libgearman-dev', or run .ci/run, which installs it.\n{gcc.Transcript()}");
            }

            if (gcc.HasExited && await gcc.WaitForExitAsync() != 0)
            {
                throw new InvalidOperationException($"Compiling {source} failed.\n{gcc.Transcript()}");
            }
        }

        return output;
    }

    private static string CreateOutputDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), "gearman-tests", "c-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
            catch (UnauthorizedAccessException)
            {
                // Best effort.
            }
        };
        return dir;
    }
}
