namespace Gearman.Server.Persistence;

/// <summary>
/// A durable table of background jobs. Only <see cref="JobStoreWriter"/> calls it, from one task at a time, so
/// implementations need no locking. Any method may throw when the database is unreachable; the writer then calls
/// <see cref="CloseAsync"/> and, after a back-off, <see cref="OpenAsync"/> again.
/// </summary>
internal interface IJobStore : IAsyncDisposable
{
    /// <summary>What and where, for logs and error replies (for example <c>sqlite /var/lib/gearman/queue.db</c>).</summary>
    string Description { get; }

    /// <summary>
    /// Connects (or reconnects) and creates the table when it does not exist (or adds a column an older version lacked).
    /// Throws <see cref="JobStoreConfigurationException"/> for a problem that retrying cannot fix.
    /// </summary>
    Task OpenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Every stored job, in ascending <see cref="JobRecord.Id"/> order. The records own their memory. A row that cannot be
    /// loaded is moved to the quarantine table instead and listed in <see cref="Quarantined"/>; the rest still load.
    /// </summary>
    Task<IReadOnlyList<JobRecord>> LoadAsync(CancellationToken cancellationToken);

    /// <summary>The rows the last <see cref="LoadAsync"/> moved to quarantine (each is logged once, by the caller).</summary>
    IReadOnlyList<QuarantinedRow> Quarantined => [];

    /// <summary>Where quarantined rows go, for the log.</summary>
    string QuarantineDescription => string.Empty;

    /// <summary>
    /// Inserts <paramref name="adds"/>, sets the retry counts in <paramref name="retries"/> (at most one per id) and deletes
    /// the rows with the ids in <paramref name="deletes"/>, in that order, in one transaction. Returns once the
    /// transaction is durable. Throws when it failed or its outcome is unknown (the connection broke during the commit);
    /// the caller then treats the adds as failed and deletes their ids again later, and applies the retry counts again.
    /// Updating or deleting an id that is not stored is not an error.
    /// </summary>
    Task ApplyAsync(IReadOnlyList<JobRecord> adds, IReadOnlyList<RetryCount> retries, IReadOnlyList<long> deletes, CancellationToken cancellationToken);

    /// <summary>Drops the connection after a failure; <see cref="OpenAsync"/> makes a new one.</summary>
    ValueTask CloseAsync();
}

/// <summary>A job's new retry count (<see cref="JobRecord.Retries"/>) for the row <see cref="Id"/>.</summary>
internal readonly record struct RetryCount(long Id, int Retries);
