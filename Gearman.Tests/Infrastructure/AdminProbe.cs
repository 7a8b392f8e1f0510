using System.Globalization;

namespace Gearman.Tests.Infrastructure;

/// <summary>One row of admin <c>status</c>: <c>FUNC\tTOTAL\tRUNNING\tWORKERS</c> (protocol.md §3).</summary>
public sealed record FunctionStatus(string Function, int Total, int Running, int Workers);

/// <summary>
/// Reads server state over the admin protocol. External workers (libgearman, the gearman CLI, Perl) give no
/// "registered" signal of their own, so tests wait for the server's <c>status</c> to show them, polled against a deadline.
/// </summary>
public static class AdminProbe
{
    /// <summary>Default bound for waits.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);

    /// <summary>The <c>status</c> rows.</summary>
    public static async Task<IReadOnlyList<FunctionStatus>> StatusAsync(IServerUnderTest server)
    {
        await using var conn = await RawGearmanConnection.ConnectAsync(server);
        return [.. (await conn.AdminListAsync("status")).Select(Parse)];
    }

    /// <summary>The row for <paramref name="function"/>, or null.</summary>
    public static async Task<FunctionStatus?> StatusOfAsync(IServerUnderTest server, string function)
        => (await StatusAsync(server)).FirstOrDefault(s => s.Function == function);

    /// <summary>Waits until <c>status</c> shows at least <paramref name="count"/> workers for <paramref name="function"/>.</summary>
    public static Task<FunctionStatus> WaitForWorkersAsync(IServerUnderTest server, string function, int count = 1, TimeSpan? timeout = null, CancellationToken ct = default)
        => WaitForStatusAsync(server, function, s => s.Workers >= count, $"{count} worker(s)", timeout, ct);

    /// <summary>Waits until the <c>status</c> row of <paramref name="function"/> satisfies <paramref name="condition"/>.</summary>
    public static async Task<FunctionStatus> WaitForStatusAsync(IServerUnderTest server, string function, Func<FunctionStatus, bool> condition, string what, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var limit = timeout ?? DefaultTimeout;
        var deadline = DateTime.UtcNow + limit;
        await using var conn = await RawGearmanConnection.ConnectAsync(server, ct);
        FunctionStatus? last = null;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            last = (await conn.AdminListAsync("status")).Select(Parse).FirstOrDefault(s => s.Function == function);
            if (last is not null && condition(last)) return last;
            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"{server}: status of '{function}' did not reach {what} within {limit}; last: {last?.ToString() ?? "(absent)"}\n{server.Log}");
            }

            await Task.Delay(PollInterval, ct);
        }
    }

    /// <summary>Parses one <c>status</c> row.</summary>
    public static FunctionStatus Parse(string line)
    {
        var parts = line.Split('\t');
        if (parts.Length != 4) throw new FormatException($"Not a status row: '{line}'");
        return new FunctionStatus(parts[0], Int(parts[1]), Int(parts[2]), Int(parts[3]));
    }

    private static int Int(string s) => int.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);
}
