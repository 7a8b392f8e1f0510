using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;

namespace Gearman.Benchmarks;

/// <summary>The one configuration every micro benchmark runs with (SER's CustomConfig pattern).</summary>
internal static class BenchmarkConfig
{
    /// <summary>
    /// The default jobs, plus allocation counts (codec paths must show 0 B) and throughput per operation. Pick a
    /// shorter job on the command line (<c>--job short</c>, <c>--job dry</c>) on shared machines.
    /// </summary>
    public static IConfig Create() => ManualConfig.Create(DefaultConfig.Instance)
        .AddDiagnoser(MemoryDiagnoser.Default)
        .AddColumn(StatisticColumn.OperationsPerSecond);
}
