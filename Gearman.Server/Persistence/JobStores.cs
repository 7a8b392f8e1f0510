using Gearman.Server.Hosting;

namespace Gearman.Server.Persistence;

/// <summary>Creates the store that <see cref="GearmanServerOptions"/> asks for.</summary>
internal static class JobStores
{
    /// <summary>The table both stores use unless told otherwise (not gearmand's <c>gearman_queue</c>: the layouts differ).</summary>
    public const string DefaultTable = "gearman_jobs";

    /// <summary>The SQLite file used when none is given, relative to the working directory.</summary>
    public const string DefaultSqliteDatabase = "gearman-queue.db";

    /// <summary>Null for <see cref="QueueType.Memory"/>; otherwise an unopened store.</summary>
    public static IJobStore? Create(GearmanServerOptions options) => options.QueueType switch
    {
        QueueType.Memory => null,
        QueueType.Sqlite => new SqliteJobStore(options.SqliteDatabase, options.QueueTable, options.SqliteFullSync),
        QueueType.Postgres => new PostgresJobStore(
            options.PostgresConnectionString ?? throw new ArgumentException("--queue-type postgres needs --postgres CONNECTION_STRING."),
            options.QueueTable),
        _ => throw new ArgumentOutOfRangeException(nameof(options), options.QueueType, "Unknown queue type."),
    };

    /// <summary>
    /// Table names go into SQL text, so only plain identifiers are accepted; at most 52 characters, so that the
    /// quarantine table (<see cref="StoredJobCheck.QuarantineTable"/>) stays within PostgreSQL's 63.
    /// </summary>
    public static string ValidateTableName(string table)
    {
        ArgumentException.ThrowIfNullOrEmpty(table);
        bool valid = table.Length <= 52 && (char.IsAsciiLetter(table[0]) || table[0] == '_');
        foreach (char c in table) valid &= char.IsAsciiLetterOrDigit(c) || c == '_';
        if (!valid) throw new ArgumentException($"Invalid queue table name '{table}': use letters, digits and '_' (at most 52, not starting with a digit).", nameof(table));
        return table;
    }
}
