using System.Globalization;
using Gearman.Server.Scheduling;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Gearman.Server.Persistence;

/// <summary>
/// The default store: one SQLite file in WAL mode. With <c>synchronous=FULL</c> (the default) every committed batch is
/// fsynced to the WAL before <see cref="ApplyAsync"/> returns, so it survives a process kill and a power loss; with
/// <c>NORMAL</c> it survives a process kill but the last batches may be lost on power loss.
/// <para>
/// Batches go through prepared statements on the raw SQLite handle: blobs are bound straight from the jobs' buffers,
/// with none of the per-command copies and allocations of <see cref="SqliteCommand"/> (about 4x the rows per second).
/// </para>
/// </summary>
internal sealed class SqliteJobStore : IJobStore
{
    private readonly string _path;
    private readonly string _table;
    private readonly string _quarantine;
    private readonly bool _fullSync;
    private List<QuarantinedRow> _quarantined = [];
    private SqliteConnection? _connection;
    private sqlite3_stmt? _begin;
    private sqlite3_stmt? _commit;
    private sqlite3_stmt? _rollback;
    private sqlite3_stmt? _insert;
    private sqlite3_stmt? _delete;
    private sqlite3_stmt? _retries;

    public SqliteJobStore(string path, string table, bool fullSync)
    {
        _path = path;
        _table = JobStores.ValidateTableName(table);
        _quarantine = StoredJobCheck.QuarantineTable(_table);
        _fullSync = fullSync;
    }

    public IReadOnlyList<QuarantinedRow> Quarantined => _quarantined;

    public string QuarantineDescription => $"{_quarantine} in {_path}";

    public string Description => $"sqlite {Path.GetFullPath(_path)} (table {_table}, synchronous={(_fullSync ? "FULL" : "NORMAL")})";

    public Task OpenAsync(CancellationToken cancellationToken)
    {
        Close();
        string directory = Path.GetDirectoryName(Path.GetFullPath(_path)) ?? ".";
        if (!Directory.Exists(directory))
        {
            throw new JobStoreConfigurationException($"The directory {directory} of the SQLite database {_path} does not exist (or is not a directory).");
        }

        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 10,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            string mode = Scalar(connection, "PRAGMA journal_mode=WAL") ?? string.Empty;
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new JobStoreConfigurationException($"SQLite refused WAL mode for {_path} (journal_mode is '{mode}').");
            }

            Execute(connection, _fullSync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
            Execute(connection, "PRAGMA busy_timeout=10000");
            Execute(connection, $"""
                CREATE TABLE IF NOT EXISTS {_table} (
                    id INTEGER PRIMARY KEY,
                    function_name BLOB NOT NULL,
                    unique_key BLOB NOT NULL,
                    reducer BLOB NOT NULL,
                    priority INTEGER NOT NULL,
                    when_epoch INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    retries INTEGER NOT NULL DEFAULT 0)
                """);
            try
            {
                Execute(connection, $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data FROM {_table} LIMIT 0");
            }
            catch (SqliteException ex)
            {
                throw new JobStoreConfigurationException($"Table {_table} in {_path} exists with another layout (is it gearmand's queue?): {ex.Message}", ex);
            }

            // Rows that cannot be loaded are moved here. No column types: a bad row keeps whatever it held.
            Execute(connection, $"""
                CREATE TABLE IF NOT EXISTS {_quarantine} (
                    quarantine_id INTEGER PRIMARY KEY,
                    id, function_name, unique_key, reducer, priority, when_epoch, data, retries,
                    reason TEXT NOT NULL,
                    quarantined_at TEXT NOT NULL DEFAULT (datetime('now')))
                """);

            // Tables made before retry counts were stored lack the column.
            if (Scalar(connection, $"SELECT count(*) FROM pragma_table_info('{_table}') WHERE name = 'retries'") == "0")
            {
                Execute(connection, $"ALTER TABLE {_table} ADD COLUMN retries INTEGER NOT NULL DEFAULT 0");
            }

            var db = connection.Handle!;
            _begin = Prepare(db, "BEGIN IMMEDIATE");
            _commit = Prepare(db, "COMMIT");
            _rollback = Prepare(db, "ROLLBACK");
            _insert = Prepare(db, $"INSERT INTO {_table} (id, function_name, unique_key, reducer, priority, when_epoch, data, retries) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
            _delete = Prepare(db, $"DELETE FROM {_table} WHERE id = ?1");
            _retries = Prepare(db, $"UPDATE {_table} SET retries = ?2 WHERE id = ?1");
            _connection = connection;
        }
        catch (SqliteException ex) when (IsConfigurationError(ex.SqliteErrorCode))
        {
            FinalizeStatements();
            connection.Dispose();
            throw new JobStoreConfigurationException($"SQLite cannot use {_path}: {ex.Message}", ex);
        }
        catch
        {
            FinalizeStatements();
            connection.Dispose();
            throw;
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<JobRecord>> LoadAsync(CancellationToken cancellationToken)
    {
        var connection = _connection ?? throw new InvalidOperationException("The store is not open.");
        var records = new List<JobRecord>();
        var quarantined = new List<QuarantinedRow>();
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data, retries FROM {_table} ORDER BY id";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (TryRead(reader, now, out var record, out string? problem)) records.Add(record);
                else quarantined.Add(new QuarantinedRow(record.Id, problem));
            }
        }

        if (quarantined.Count > 0) MoveToQuarantine(connection, quarantined);
        _quarantined = quarantined;
        return Task.FromResult<IReadOnlyList<JobRecord>>(records);
    }

    /// <summary>
    /// One row, checked column by column: SQLite lets any column hold any type, so a row written by something else may
    /// hold text where a blob belongs, a real where an integer belongs, or null.
    /// </summary>
    private static bool TryRead(SqliteDataReader reader, long now, out JobRecord record, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        record = default;
        if (reader.GetValue(0) is not long id)
        {
            problem = $"its id is {Describe(reader.GetValue(0))}, not an integer";
            return false;
        }

        record = new JobRecord(id, default, default, default, default, JobPriority.Normal, 0);
        // Every column is read (no short-circuit), so each out value is assigned; the first problem is reported.
        string?[] problems =
        [
            BlobColumn(reader, 1, "function_name", out var function),
            BlobColumn(reader, 2, "unique_key", out var unique),
            BlobColumn(reader, 3, "reducer", out var reducer),
            BlobColumn(reader, 6, "data", out var data),
            IntegerColumn(reader, 4, "priority", out long priority),
            IntegerColumn(reader, 5, "when_epoch", out long epoch),
            IntegerColumn(reader, 7, "retries", out long retries),
        ];
        problem = Array.Find(problems, p => p is not null);
        if (problem is not null) return false;
        record = new JobRecord(id, function, unique, reducer, data, ToPriority(priority), epoch, (int)Math.Clamp(retries, 0, int.MaxValue));
        problem = StoredJobCheck.Problem(record, priority, now);
        return problem is null;
    }

    private static string? BlobColumn(SqliteDataReader reader, int ordinal, string name, out byte[] value)
    {
        switch (reader.GetValue(ordinal))
        {
            case byte[] bytes:
                value = bytes;
                return null;
            case DBNull:
                value = [];
                return null;
            case var other:
                value = [];
                return $"its {name} is {Describe(other)}, not a blob";
        }
    }

    private static string? IntegerColumn(SqliteDataReader reader, int ordinal, string name, out long value)
    {
        var raw = reader.GetValue(ordinal);
        value = raw is long number ? number : 0;
        return raw is long ? null : $"its {name} is {Describe(raw)}, not an integer";
    }

    private static string Describe(object value) => value switch
    {
        DBNull => "null",
        string text => $"the text '{(text.Length > 40 ? text[..40] + "…" : text)}'",
        double real => $"the real number {real.ToString(CultureInfo.InvariantCulture)}",
        byte[] bytes => $"a blob of {bytes.Length} bytes",
        _ => value.GetType().Name,
    };

    /// <summary>Moves the rows to the quarantine table, in one transaction.</summary>
    private void MoveToQuarantine(SqliteConnection connection, List<QuarantinedRow> rows)
    {
        using var transaction = connection.BeginTransaction();
        using var copy = connection.CreateCommand();
        copy.Transaction = transaction;
        copy.CommandText = $"""
            INSERT INTO {_quarantine} (id, function_name, unique_key, reducer, priority, when_epoch, data, retries, reason)
            SELECT id, function_name, unique_key, reducer, priority, when_epoch, data, retries, $reason FROM {_table} WHERE id = $id;
            DELETE FROM {_table} WHERE id = $id
            """;
        var id = copy.Parameters.Add("$id", SqliteType.Integer);
        var reason = copy.Parameters.Add("$reason", SqliteType.Text);
        foreach (var row in rows)
        {
            id.Value = row.Id;
            reason.Value = row.Reason;
            copy.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    public Task ApplyAsync(IReadOnlyList<JobRecord> adds, IReadOnlyList<RetryCount> retries, IReadOnlyList<long> deletes, CancellationToken cancellationToken)
    {
        var db = (_connection ?? throw new InvalidOperationException("The store is not open.")).Handle!;
        Run(db, _begin!);
        try
        {
            var insert = _insert!;
            foreach (var add in adds)
            {
                Check(db, raw.sqlite3_bind_int64(insert, 1, add.Id));
                BindBlob(db, insert, 2, add.Function.Span);
                BindBlob(db, insert, 3, add.Unique.Span);
                BindBlob(db, insert, 4, add.Reducer.Span);
                Check(db, raw.sqlite3_bind_int64(insert, 5, (int)add.Priority));
                Check(db, raw.sqlite3_bind_int64(insert, 6, add.Epoch));
                BindBlob(db, insert, 7, add.Data.Span);
                Check(db, raw.sqlite3_bind_int64(insert, 8, add.Retries));
                Run(db, insert);
            }

            var update = _retries!;
            foreach (var (id, count) in retries)
            {
                Check(db, raw.sqlite3_bind_int64(update, 1, id));
                Check(db, raw.sqlite3_bind_int64(update, 2, count));
                Run(db, update);
            }

            var delete = _delete!;
            foreach (long id in deletes)
            {
                Check(db, raw.sqlite3_bind_int64(delete, 1, id));
                Run(db, delete);
            }

            Run(db, _commit!);
        }
        catch
        {
            // Leave no transaction open (the connection is usually closed next anyway).
            raw.sqlite3_step(_rollback!);
            raw.sqlite3_reset(_rollback!);
            throw;
        }

        return Task.CompletedTask;
    }

    public ValueTask CloseAsync()
    {
        Close();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => CloseAsync();

    /// <summary>
    /// Errors that waiting cannot fix: the file cannot be opened (permissions, a directory in its place), is read-only,
    /// is not a database, or is corrupt. Anything else (locked by another process, an I/O error, a full disk) is ridden
    /// out by reconnecting.
    /// </summary>
    private static bool IsConfigurationError(int code) => (code & 0xFF) is raw.SQLITE_CANTOPEN or raw.SQLITE_PERM or raw.SQLITE_READONLY
        or raw.SQLITE_NOTADB or raw.SQLITE_CORRUPT or raw.SQLITE_AUTH;

    internal static JobPriority ToPriority(long value) => value switch
    {
        0 => JobPriority.High,
        2 => JobPriority.Low,
        _ => JobPriority.Normal,
    };

    private static byte[] Blob(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? [] : (byte[])reader.GetValue(ordinal);

    private static sqlite3_stmt Prepare(sqlite3 db, string sql)
    {
        Check(db, raw.sqlite3_prepare_v2(db, sql, out var statement));
        return statement;
    }

    /// <summary>Steps a statement that returns no rows, then resets it for the next use.</summary>
    private static void Run(sqlite3 db, sqlite3_stmt statement)
    {
        int rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc != raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, db);
    }

    /// <summary>An empty span binds a zero-length blob, not NULL (the columns are NOT NULL).</summary>
    private static void BindBlob(sqlite3 db, sqlite3_stmt statement, int index, ReadOnlySpan<byte> value)
        => Check(db, value.IsEmpty ? raw.sqlite3_bind_zeroblob(statement, index, 0) : raw.sqlite3_bind_blob(statement, index, value));

    private static void Check(sqlite3 db, int rc)
    {
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, db);
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private void Close()
    {
        FinalizeStatements();
        _connection?.Dispose();
        _connection = null;
    }

    private void FinalizeStatements()
    {
        foreach (var statement in (sqlite3_stmt?[])[_begin, _commit, _rollback, _insert, _delete, _retries]) statement?.Dispose();
        _begin = _commit = _rollback = _insert = _delete = _retries = null;
    }
}
