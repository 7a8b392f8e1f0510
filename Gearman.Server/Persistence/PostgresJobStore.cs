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
    private NpgsqlConnection? _connection;

    public PostgresJobStore(string connectionString, string table)
    {
        _table = JobStores.ValidateTableName(table);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        Description = $"postgres {builder.Host}:{builder.Port}/{builder.Database} (table {_table})";
        _connectionString = builder.ConnectionString;
    }

    public string Description { get; }

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
                    data bytea NOT NULL)
                """, cancellationToken).ConfigureAwait(false);
            try
            {
                await ExecuteAsync(connection, $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data FROM {_table} LIMIT 0", cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex)
            {
                throw new InvalidOperationException($"Table {_table} exists with another layout (is it gearmand's queue?): {ex.MessageText}", ex);
            }

            _connection = connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task<IReadOnlyList<JobRecord>> LoadAsync(CancellationToken cancellationToken)
    {
        var connection = _connection ?? throw new InvalidOperationException("The store is not open.");
        var records = new List<JobRecord>();
        await using var command = new NpgsqlCommand($"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data FROM {_table} ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            records.Add(new JobRecord(
                reader.GetInt64(0),
                reader.GetFieldValue<byte[]>(1),
                reader.GetFieldValue<byte[]>(2),
                reader.GetFieldValue<byte[]>(3),
                reader.GetFieldValue<byte[]>(6),
                SqliteJobStore.ToPriority(reader.GetInt16(4)),
                reader.GetInt64(5)));
        }

        return records;
    }

    public async Task ApplyAsync(IReadOnlyList<JobRecord> adds, IReadOnlyList<long> deletes, CancellationToken cancellationToken)
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
            }

            var insert = new NpgsqlBatchCommand(
                $"INSERT INTO {_table} (id, function_name, unique_key, reducer, priority, when_epoch, data) " +
                "SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7)");
            insert.Parameters.Add(new NpgsqlParameter { Value = ids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            insert.Parameters.Add(new NpgsqlParameter { Value = functions, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = uniques, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = reducers, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = priorities, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Smallint });
            insert.Parameters.Add(new NpgsqlParameter { Value = epochs, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            insert.Parameters.Add(new NpgsqlParameter { Value = data, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            batch.BatchCommands.Add(insert);
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
