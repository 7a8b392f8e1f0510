using System.Globalization;
using Gearman.Server.Scheduling;
using Microsoft.Data.Sqlite;

namespace Gearman.Server.Persistence;

/// <summary>
/// The default store: one SQLite file in WAL mode. With <c>synchronous=FULL</c> (the default) every committed batch is
/// fsynced to the WAL before <see cref="ApplyAsync"/> returns, so it survives a process kill and a power loss; with
/// <c>NORMAL</c> it survives a process kill but the last batches may be lost on power loss.
/// </summary>
internal sealed class SqliteJobStore : IJobStore
{
    private readonly string _path;
    private readonly string _table;
    private readonly bool _fullSync;
    private SqliteConnection? _connection;
    private SqliteCommand? _insert;
    private SqliteCommand? _delete;

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
            string mode = Scalar(connection, "PRAGMA journal_mode=WAL")?.ToString() ?? string.Empty;
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"SQLite refused WAL mode for {_path} (journal_mode is '{mode}').");
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
                    data BLOB NOT NULL)
                """);
            try
            {
                Execute(connection, $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data FROM {_table} LIMIT 0");
            }
            catch (SqliteException ex)
            {
                throw new InvalidOperationException($"Table {_table} in {_path} exists with another layout (is it gearmand's queue?): {ex.Message}", ex);
            }

            _insert = connection.CreateCommand();
            _insert.CommandText = $"INSERT INTO {_table} (id, function_name, unique_key, reducer, priority, when_epoch, data) VALUES ($id, $f, $u, $r, $p, $w, $d)";
            foreach (var name in (string[])["$id", "$f", "$u", "$r", "$p", "$w", "$d"]) _insert.Parameters.Add(new SqliteParameter { ParameterName = name });
            _insert.Prepare();
            _delete = connection.CreateCommand();
            _delete.CommandText = $"DELETE FROM {_table} WHERE id = $id";
            _delete.Parameters.Add(new SqliteParameter { ParameterName = "$id" });
            _delete.Prepare();
            _connection = connection;
        }
        catch
        {
            _insert?.Dispose();
            _delete?.Dispose();
            _insert = _delete = null;
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
        command.CommandText = $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data FROM {_table} ORDER BY id";
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
                reader.GetInt64(5)));
        }

        return Task.FromResult<IReadOnlyList<JobRecord>>(records);
    }

    public Task ApplyAsync(IReadOnlyList<JobRecord> adds, IReadOnlyList<long> deletes, CancellationToken cancellationToken)
    {
        var connection = _connection ?? throw new InvalidOperationException("The store is not open.");
        using var transaction = connection.BeginTransaction();
        var insert = _insert!;
        insert.Transaction = transaction;
        var p = insert.Parameters;
        foreach (var add in adds)
        {
            p[0].Value = add.Id;
            p[1].Value = add.Function.ToArray();
            p[2].Value = add.Unique.ToArray();
            p[3].Value = add.Reducer.ToArray();
            p[4].Value = (int)add.Priority;
            p[5].Value = add.Epoch;
            p[6].Value = add.Data.ToArray();
            insert.ExecuteNonQuery();
        }

        var delete = _delete!;
        delete.Transaction = transaction;
        foreach (long id in deletes)
        {
            delete.Parameters[0].Value = id;
            delete.ExecuteNonQuery();
        }

        transaction.Commit();
        return Task.CompletedTask;
    }

    public ValueTask CloseAsync()
    {
        Close();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => CloseAsync();

    internal static JobPriority ToPriority(long value) => value switch
    {
        0 => JobPriority.High,
        2 => JobPriority.Low,
        _ => JobPriority.Normal,
    };

    private static byte[] Blob(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? [] : (byte[])reader.GetValue(ordinal);

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private void Close()
    {
        _insert?.Dispose();
        _delete?.Dispose();
        _insert = _delete = null;
        _connection?.Dispose();
        _connection = null;
    }
}
