using System.Diagnostics;
using System.Security.Cryptography;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// The C load generator (<c>loadgen.c</c>, embedded in this assembly): compiled with gcc against libgearman into a
/// cache directory the first time, keyed by the source's hash, and started once per phase.
/// </summary>
internal sealed class LoadGen
{
    private LoadGen(string path) => Path = path;

    /// <summary>The compiled executable.</summary>
    public string Path { get; }

    /// <summary>Builds (or finds the cached build of) the load generator.</summary>
    /// <exception cref="InvalidOperationException">gcc or libgearman-dev is missing, or the build failed.</exception>
    public static LoadGen Build()
    {
        byte[] source;
        using (var stream = typeof(LoadGen).Assembly.GetManifestResourceStream("loadgen.c")
            ?? throw new InvalidOperationException("loadgen.c is not embedded in the assembly"))
        using (var copy = new MemoryStream())
        {
            stream.CopyTo(copy);
            source = copy.ToArray();
        }

        string hash = Convert.ToHexStringLower(SHA256.HashData(source))[..16];
        string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "gearman-benchmarks");
        Directory.CreateDirectory(dir);
        string exe = System.IO.Path.Combine(dir, $"loadgen-{hash}");
        if (File.Exists(exe)) return new LoadGen(exe);

        string src = System.IO.Path.Combine(dir, $"loadgen-{hash}.c");
        File.WriteAllBytes(src, source);
        string tmp = $"{exe}.{Environment.ProcessId}.tmp";
        var psi = new ProcessStartInfo("gcc")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["-O2", "-std=gnu11", "-Wall", "-Wextra", "-o", tmp, src, "-lgearman", "-lpthread"]) psi.ArgumentList.Add(a);
        Console.Error.WriteLine($"building the libgearman load generator: gcc -O2 ... -o {exe} -lgearman");
        Process gcc;
        try
        {
            gcc = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run gcc ({e.Message}); install gcc and libgearman-dev", e);
        }

        using (gcc)
        {
            var stderr = gcc.StandardError.ReadToEndAsync();
            gcc.StandardOutput.ReadToEnd();
            gcc.WaitForExit();
            if (gcc.ExitCode != 0)
            {
                throw new InvalidOperationException($"gcc failed (is libgearman-dev installed?):\n{stderr.GetAwaiter().GetResult().Trim()}");
            }
        }

        File.Move(tmp, exe, overwrite: true);
        return new LoadGen(exe);
    }

    /// <summary>Starts <c>loadgen MODE ARGS</c>.</summary>
    public LoadGenProcess Start(string mode, params IEnumerable<string> args) => LoadGenProcess.Start(Path, [mode, .. args]);

    /// <summary>Runs <c>loadgen MODE ARGS</c> to its end and returns its RESULT line.</summary>
    /// <exception cref="LoadException">It failed, printed no result, or ran past <paramref name="timeout"/>.</exception>
    public LoadGenResult Run(TimeSpan timeout, string mode, params IEnumerable<string> args)
    {
        using var p = Start(mode, args);
        return p.WaitForResult(timeout);
    }
}
