namespace Gearman.Tests.Infrastructure;

/// <summary>Unique names (function names, unique ids) so that tests can share a server and run in parallel.</summary>
public static class TestNames
{
    private static readonly string RunId = Guid.NewGuid().ToString("N")[..6];
    private static int _next;

    /// <summary>A name unique within this test run and distinct from other runs: <c>prefix_run_n</c>.</summary>
    public static string Unique(string prefix) => $"{prefix}_{RunId}_{Interlocked.Increment(ref _next)}";
}
