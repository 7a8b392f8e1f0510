using System.CommandLine;
using System.Globalization;
using Gearman.Server.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Hosting;

/// <summary>The <c>gearmand</c>-style command line (spec §6.1).</summary>
internal static class ServerCommandLine
{
    private static readonly string[] LevelNames = ["FATAL", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"];

    public static async Task<int> RunAsync(string[] args)
    {
        var port = new Option<int>("--port", "-p") { Description = "Port to listen on.", DefaultValueFactory = _ => 4730 };
        var listen = new Option<string?>("--listen", "-L") { Description = "Address to listen on (default: all addresses)." };
        var jobRetries = new Option<int>("--job-retries", "-j")
        {
            Description = "Times to run a job whose worker dies before it is dropped: -1 unlimited, 0 or 1 drop at the first failure.",
            DefaultValueFactory = _ => -1,
        };
        var workerWakeup = new Option<int>("--worker-wakeup", "-w") { Description = "Workers to wake per queued job (0: all sleeping workers)." };
        var verbose = new Option<string>("--verbose") { Description = "Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG.", DefaultValueFactory = _ => "ERROR" };
        var logFile = new Option<string?>("--log-file", "-l") { Description = "Log destination: a file, 'stderr' (default) or 'none'." };
        var maxPacket = new Option<uint>("--max-packet-size") { Description = "Largest packet body accepted, in bytes.", DefaultValueFactory = _ => 64u << 20 };
        var handlePrefix = new Option<string?>("--job-handle-prefix") { Description = "Job handles become PREFIX:n (default H:hostname:n)." };
        var exceptions = new Option<bool>("--exceptions") { Description = "Enable WORK_EXCEPTION forwarding on every connection." };
        var threads = new Option<int>("--threads", "-t") { Description = "Socket I/O threads (default 1; the scheduler itself is one thread)." };
        var roundRobin = new Option<bool>("--round-robin", "-R") { Description = "Accepted for gearmand compatibility; round robin is always on." };

        var root = new RootCommand("A gearmand-compatible Gearman job server for .NET.")
        {
            port, listen, jobRetries, workerWakeup, verbose, logFile, maxPacket, handlePrefix, exceptions, threads, roundRobin,
        };

        root.SetAction(async (result, cancellationToken) =>
        {
            string level = result.GetValue(verbose)!;
            int verbosity = ParseLevel(level);
            if (verbosity < 0)
            {
                await Console.Error.WriteLineAsync($"Invalid --verbose level '{level}': expected one of {string.Join(", ", LevelNames)}.").ConfigureAwait(false);
                return 2;
            }

            var options = new GearmanServerOptions
            {
                Port = result.GetValue(port),
                ListenAddress = result.GetValue(listen),
                JobRetries = result.GetValue(jobRetries),
                WorkerWakeup = Math.Max(0, result.GetValue(workerWakeup)),
                Verbosity = verbosity,
                LogFile = result.GetValue(logFile),
                MaxPacketSize = result.GetValue(maxPacket),
                HandlePrefix = result.GetValue(handlePrefix),
                Exceptions = result.GetValue(exceptions),
            };

            SocketThreading.Configure(result.GetValue(threads));
            return await ServeAsync(options, cancellationToken).ConfigureAwait(false);
        });

        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }

    private static async Task<int> ServeAsync(GearmanServerOptions options, CancellationToken cancellationToken)
    {
        GearmanServer server;
        FileLoggerProvider? file = null;
        try
        {
            server = await GearmanServer.StartAsync(options, cancellationToken, logging =>
            {
                var minimum = ToLogLevel(options.Verbosity);
                logging.SetMinimumLevel(minimum);
                logging.AddFilter("Microsoft", LogLevel.Warning);
                switch (options.LogFile)
                {
                    case null or "stderr":
                        logging.AddSimpleConsole(c => c.SingleLine = true);
                        logging.AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
                        break;
                    case "none":
                        break;
                    default:
                        file = new FileLoggerProvider(options.LogFile);
                        logging.AddProvider(file);
                        break;
                }
            }).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"Could not listen on port {options.Port}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        try
        {
            await Task.WhenAny(server.Stopped, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            await server.DisposeAsync().ConfigureAwait(false);
            file?.Dispose();
        }

        return 0;
    }

    private static int ParseLevel(string level)
    {
        if (int.TryParse(level, NumberStyles.None, CultureInfo.InvariantCulture, out int n)) return n is >= 0 and <= 7 ? n : -1;
        return Array.FindIndex(LevelNames, l => string.Equals(l, level, StringComparison.OrdinalIgnoreCase));
    }

    private static LogLevel ToLogLevel(int verbosity) => verbosity switch
    {
        <= 2 => LogLevel.Critical,
        3 => LogLevel.Error,
        4 => LogLevel.Warning,
        5 or 6 => LogLevel.Information,
        _ => LogLevel.Debug,
    };
}
