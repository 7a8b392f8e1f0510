using Npgsql;
using NpgsqlTypes;

namespace Gearman.Server.Persistence;

/// <summary>
/// A PostgreSQL table, for a queue that outlives one machine. Each batch is one round trip: an <see cref="NpgsqlBatch"/>
/// (an INSERT from arrays and a DELETE by id) runs as one implicit transaction, durable once the server acknowledges the
/// commit (with PostgreSQL's default <c>synchronous_commit=on</c>).
/// </summary>
internal sealed class PostgresJobStore : IJobStore
{
    private readonly string _connectionString;
    private readonly string _table;
    private readonly string _quarantine;
    private NpgsqlConnection? _connection;
    private List<QuarantinedRow> _quarantined = [];

    public PostgresJobStore(string connectionString, string table)
    {
        _table = JobStores.ValidateTableName(table);
        _quarantine = StoredJobCheck.QuarantineTable(_table);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        Description = $"postgres {builder.Host}:{builder.Port}/{builder.Database} (table {_table})";
        _connectionString = builder.ConnectionString;
    }

    public string Description { get; }

    public IReadOnlyList<QuarantinedRow> Quarantined => _quarantined;

    public string QuarantineDescription => _quarantine;

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        await CloseAsync().ConfigureAwait(false);
        var connection = new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, $"""
                CREATE TABLE IF NOT EXISTS {_table} (
                    id bigint PRIMARY KEY,
                    function_name bytea NOT NULL,
                    unique_key bytea NOT NULL,
                    reducer bytea NOT NULL,
                    priority smallint NOT NULL,
                    when_epoch bigint NOT NULL,
                    data bytea NOT NULL,
                    retries integer NOT NULL DEFAULT 0)
                """, cancellationToken).ConfigureAwait(false);
            try
            {
                await ExecuteAsync(connection, $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data FROM {_table} LIMIT 0", cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex)
            {
                throw new JobStoreConfigurationException($"Table {_table} exists with another layout (is it gearmand's queue?): {ex.MessageText}", ex);
            }

            // Rows that cannot be loaded are moved here, as they were (every column nullable).
            await ExecuteAsync(connection, $"""
                CREATE TABLE IF NOT EXISTS {_quarantine} (
                    quarantine_id bigserial PRIMARY KEY,
                    id bigint, function_name bytea, unique_key bytea, reducer bytea, priority smallint, when_epoch bigint,
                    data bytea, retries integer,
                    reason text NOT NULL,
                    quarantined_at timestamptz NOT NULL DEFAULT now())
                """, cancellationToken).ConfigureAwait(false);

            // Tables made before retry counts were stored lack the column.
            await ExecuteAsync(connection, $"ALTER TABLE {_table} ADD COLUMN IF NOT EXISTS retries integer NOT NULL DEFAULT 0", cancellationToken).ConfigureAwait(false);
            _connection = connection;
        }
        catch (PostgresException ex) when (IsConfigurationError(ex.SqlState))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new JobStoreConfigurationException($"PostgreSQL refused the job store {Description}: {ex.MessageText}", ex);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Errors that waiting cannot fix: the login is refused (class 28), the database does not exist (3D000), or the user
    /// may not create or use the table (42501). Anything else (the server is down, starting, restarting, overloaded) is
    /// ridden out by reconnecting.
    /// </summary>
    private static bool IsConfigurationError(string sqlState)
        => sqlState.StartsWith("28", StringComparison.Ordinal) || sqlState is PostgresErrorCodes.InvalidCatalogName or PostgresErrorCodes.InsufficientPrivilege;

    public async Task<IReadOnlyList<JobRecord>> LoadAsync(CancellationToken cancellationToken)
    {
        var connection = _connection ?? throw new InvalidOperationException("The store is not open.");
        var records = new List<JobRecord>();
        var quarantined = new List<QuarantinedRow>();
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await using (var command = new NpgsqlCommand($"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data, retries FROM {_table} ORDER BY id", connection))
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // The column types are fixed, but a table created by hand may allow nulls (the id is the key).
                long id = reader.GetInt64(0);
                int nullColumn = Enumerable.Range(1, 7).FirstOrDefault(reader.IsDBNull);
                if (nullColumn != 0)
                {
                    quarantined.Add(new QuarantinedRow(id, $"its {reader.GetName(nullColumn)} is null"));
                    continue;
                }

                short priority = reader.GetInt16(4);
                var record = new JobRecord(
                    id,
                    reader.GetFieldValue<byte[]>(1),
                    reader.GetFieldValue<byte[]>(2),
                    reader.GetFieldValue<byte[]>(3),
                    reader.GetFieldValue<byte[]>(6),
                    SqliteJobStore.ToPriority(priority),
                    reader.GetInt64(5),
                    Math.Max(0, reader.GetInt32(7)));
                if (StoredJobCheck.Problem(record, priority, now) is { } problem) quarantined.Add(new QuarantinedRow(id, problem));
                else records.Add(record);
            }
        }

        if (quarantined.Count > 0)
        {
            // One statement, so the move is atomic: delete from the queue, insert what was deleted with its reason.
            await using var move = new NpgsqlCommand(
                $"""
                WITH reasons AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS r(id, reason)),
                moved AS (DELETE FROM {_table} t USING reasons r WHERE t.id = r.id
                          RETURNING t.id, t.function_name, t.unique_key, t.reducer, t.priority, t.when_epoch, t.data, t.retries, r.reason)
                INSERT INTO {_quarantine} (id, function_name, unique_key, reducer, priority, when_epoch, data, retries, reason)
                SELECT * FROM moved
                """,
                connection);
            move.Parameters.Add(new NpgsqlParameter { Value = quarantined.Select(q => q.Id).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            move.Parameters.Add(new NpgsqlParameter { Value = quarantined.Select(q => q.Reason).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            await move.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        _quarantined = quarantined;
        return records;
    }

    public async Task ApplyAsync(IReadOnlyList<JobRecord> adds, IReadOnlyList<RetryCount> retries, IReadOnlyList<long> deletes, CancellationToken cancellationToken)
    {
        var connection = _connection ?? throw new InvalidOperationException("The store is not open.");
        await using var batch = new NpgsqlBatch(connection);
        if (adds.Count > 0)
        {
            int n = adds.Count;
            var ids = new long[n];
            var functions = new byte[n][];
            var uniques = new byte[n][];
            var reducers = new byte[n][];
            var priorities = new short[n];
            var epochs = new long[n];
            var data = new byte[n][];
            var counts = new int[n];
            for (int i = 0; i < n; i++)
            {
                var add = adds[i];
                ids[i] = add.Id;
                functions[i] = add.Function.ToArray();
                uniques[i] = add.Unique.ToArray();
                reducers[i] = add.Reducer.ToArray();
                priorities[i] = (short)add.Priority;
                epochs[i] = add.Epoch;
                data[i] = add.Data.ToArray();
                counts[i] = add.Retries;
            }

            var insert = new NpgsqlBatchCommand(
                $"INSERT INTO {_table} (id, function_name, unique_key, reducer, priority, when_epoch, data, retries) " +
                "SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8)");
            insert.Parameters.Add(new NpgsqlParameter { Value = ids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            insert.Parameters.Add(new NpgsqlParameter { Value = functions, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = uniques, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = reducers, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = priorities, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Smallint });
            insert.Parameters.Add(new NpgsqlParameter { Value = epochs, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            insert.Parameters.Add(new NpgsqlParameter { Value = data, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = counts, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
            batch.BatchCommands.Add(insert);
        }

        if (retries.Count > 0)
        {
            var update = new NpgsqlBatchCommand($"UPDATE {_table} AS t SET retries = u.retries FROM unnest($1, $2) AS u(id, retries) WHERE t.id = u.id");
            update.Parameters.Add(new NpgsqlParameter { Value = retries.Select(r => r.Id).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            update.Parameters.Add(new NpgsqlParameter { Value = retries.Select(r => r.Retries).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
            batch.BatchCommands.Add(update);
        }

        if (deletes.Count > 0)
        {
            var delete = new NpgsqlBatchCommand($"DELETE FROM {_table} WHERE id = ANY($1)");
            delete.Parameters.Add(new NpgsqlParameter { Value = deletes.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            batch.BatchCommands.Add(delete);
        }

        if (batch.BatchCommands.Count == 0) return;

        // Without an explicit transaction the commands before the single Sync form one implicit transaction: all or nothing.
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask CloseAsync()
    {
        var connection = _connection;
        _connection = null;
        if (connection is null) return;

        // After a failure the pooled physical connections may all be dead (the server restarted): start afresh.
        NpgsqlConnection.ClearPool(connection);
        await connection.DisposeAsync().ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => CloseAsync();

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
