namespace Gearman.Server.Persistence;

/// <summary>Where background jobs are kept (<c>--queue-type</c>).</summary>
internal enum QueueType
{
    /// <summary>Nowhere but memory: background jobs are lost when the server stops (gearmand's <c>builtin</c>).</summary>
    Memory,

    /// <summary>An embedded SQLite database file in WAL mode (the default).</summary>
    Sqlite,

    /// <summary>A PostgreSQL table, for a queue that outlives the machine the server runs on.</summary>
    Postgres,
}
