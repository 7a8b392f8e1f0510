using System.Globalization;
using Gearman.Server.Hosting;
using Gearman.Tests.Infrastructure;

namespace Gearman.Benchmarks.Fuzz;

/// <summary>
/// <c>fuzz [--seconds N] [--seed N] [--parallel N] [--transport epoll|kestrel] [--port P]</c>: the test suite's protocol
/// fuzzer for as long as asked, against this server in-process (or, with <c>--port</c>, against whatever listens on
/// 127.0.0.1:P, for example gearmand). Exit code 0 when every control echo completed, 1 with the seed otherwise.
/// </summary>
internal static class FuzzCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        int seconds = 60;
        int? seed = null;
        int parallel = 4;
        int? port = null;
        var transport = ServerTransport.Auto;
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : string.Empty;
            switch (args[i])
            {
                case "--seconds": seconds = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--seed": seed = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--parallel": parallel = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--port": port = int.Parse(value, CultureInfo.InvariantCulture); i++; break;
                case "--transport": transport = Enum.Parse<ServerTransport>(value, ignoreCase: true); i++; break;
                default:
                    await Console.Error.WriteLineAsync($"fuzz: unknown argument {args[i]}").ConfigureAwait(false);
                    return 2;
            }
        }

        int chosen = seed ?? ProtocolFuzzer.ChooseSeed();
        GearmanServer? server = null;
        if (port is null)
        {
            server = await GearmanServer.StartAsync(new GearmanServerOptions
            {
                Port = 0,
                ListenAddress = "127.0.0.1",
                QueueType = Gearman.Server.Persistence.QueueType.Memory,
                Transport = transport,
                MaxPacketSize = 1 << 20,
            }).ConfigureAwait(false);
            port = server.EndPoint.Port;
        }

        Console.WriteLine($"fuzzing 127.0.0.1:{port} for {seconds} s with seed {chosen} ({parallel} connections at a time)");
        try
        {
            var report = await new ProtocolFuzzer("127.0.0.1", port.Value, chosen).RunAsync(TimeSpan.FromSeconds(seconds), parallel, CancellationToken.None).ConfigureAwait(false);
            Console.WriteLine($"ok: {report.Connections} fuzz connections, {report.Packets} units; {report.ControlEchoes} control echoes, worst {report.WorstControlEcho.TotalMilliseconds:F1} ms");
            return 0;
        }
        catch (FuzzFailureException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 1;
        }
        finally
        {
            if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
