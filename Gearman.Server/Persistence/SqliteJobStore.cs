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
    private readonly bool _fullSync;
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
        _fullSync = fullSync;
    }

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
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data, retries FROM {_table} ORDER BY id";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            cancellationToken.ThrowIfCancellationRequested();
            records.Add(new JobRecord(
                reader.GetInt64(0),
                Blob(reader, 1),
                Blob(reader, 2),
                Blob(reader, 3),
                Blob(reader, 6),
                ToPriority(reader.GetInt64(4)),
                reader.GetInt64(5),
                (int)Math.Clamp(reader.GetInt64(7), 0, int.MaxValue)));
        }

        return Task.FromResult<IReadOnlyList<JobRecord>>(records);
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
