using BenchmarkDotNet.Running;
using Gearman.Benchmarks;
using Gearman.Benchmarks.Fuzz;
using Gearman.Benchmarks.Throughput;

// dotnet run -c Release --project Gearman.Benchmarks -- micro [BenchmarkDotNet arguments]
// dotnet run -c Release --project Gearman.Benchmarks -- pairs [--scale 4] [--out docs/benchmarks/mapreduce-pairs.md]
// dotnet run -c Release --project Gearman.Benchmarks -- fuzz [--seconds 600] [--seed N] [--parallel 4] [--transport epoll|kestrel] [--port P]
// dotnet run -c Release --project Gearman.Benchmarks -- throughput [--smoke] [--servers ours,gearmand] [--scenarios ...] [--out docs/benchmarks/server-and-sdk.md]
switch (args.Length > 0 ? args[0] : null)
{
    case "micro":
        BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args[1..], BenchmarkConfig.Create());
        return 0;
    case "throughput":
        return ThroughputCommand.Run(args[1..]);
    case "pairs":
        return PairedMapReduceCommand.Run(args[1..]);
    case "fuzz":
        return await FuzzCommand.RunAsync(args[1..]);
    default:
        Console.Error.WriteLine("""
            usage: Gearman.Benchmarks micro [BenchmarkDotNet arguments, e.g. --filter '*Codec*' --job short]
                   Gearman.Benchmarks throughput [--smoke] [--servers ours,gearmand] [--drivers libgearman,sdk]
                                                 [--scenarios id,...] [--runs N] [--scale F] [--out docs/benchmarks/server-and-sdk.md]
                                                 [--gearmand PATH] [--our-server Gearman.Server.dll or executable] [--our-queue memory|sqlite] [--timeout SECONDS]
                   Gearman.Benchmarks throughput --list
                   Gearman.Benchmarks pairs [--scale F] [--servers gearmand,ours] [--our-server PATH] [--gearmand PATH] [--out FILE]
                   Gearman.Benchmarks fuzz [--seconds 600] [--seed N] [--parallel 4] [--transport epoll|kestrel] [--port P]
            """);
        return 2;
}
