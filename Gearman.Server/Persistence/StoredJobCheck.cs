using Gearman.Server.Scheduling;

namespace Gearman.Server.Persistence;

/// <summary>
/// What a stored row must satisfy to be replayed: what the server itself would have accepted in a submit. A row that
/// fails (written by hand, by another program, or by an older version with looser limits) is quarantined, never replayed.
/// </summary>
internal static class StoredJobCheck
{
    /// <summary>The quarantine table of a queue table (the queue table's name is at most 52 characters, so it fits 63).</summary>
    public static string QuarantineTable(string table) => table + "_quarantine";

    /// <summary>Null when <paramref name="record"/> can be replayed, else why not.</summary>
    /// <param name="record">The row as read.</param>
    /// <param name="storedPriority">The priority column as stored (0 high, 1 normal, 2 low).</param>
    /// <param name="nowSeconds">The current Unix time, for the epoch horizon.</param>
    public static string? Problem(in JobRecord record, long storedPriority, long nowSeconds)
    {
        if (storedPriority is not (0 or 1 or 2)) return $"priority {storedPriority} is not 0 (high), 1 (normal) or 2 (low)";
        if (record.Unique.Length > JobScheduler.MaxUniqueLength) return $"its unique ID has {record.Unique.Length} bytes (at most {JobScheduler.MaxUniqueLength})";
        if (record.Reducer.Length > JobScheduler.MaxReducerLength) return $"its reducer name has {record.Reducer.Length} bytes (at most {JobScheduler.MaxReducerLength})";
        if (record.Epoch > nowSeconds && record.Epoch - nowSeconds > JobScheduler.MaxEpochHorizonSeconds)
        {
            return $"its epoch {record.Epoch} is more than {JobScheduler.MaxEpochHorizonSeconds} s (3650 days) ahead";
        }

        return null;
    }
}
