using Gearman.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>
/// The server always starts from its PostgreSQL store: rows it cannot load (written here directly) move to the
/// quarantine table with their reason, and every other row replays. The fixture starts a throwaway cluster.
/// </summary>
public sealed class PostgresQuarantineTests : IClassFixture<PostgresCluster>
{
    private readonly PostgresCluster _cluster;

    public PostgresQuarantineTests(PostgresCluster cluster)
    {
        _cluster = cluster;
    }

    [Fact]
    public async Task Rows_that_cannot_be_loaded_are_quarantined_with_their_reason_and_the_rest_replays()
    {
        string table = PostgresCluster.NewTable("quar");
        string fn = TestNames.Unique("pgquar");
        await using (var server = await StartAsync(table))
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        {
            await RawJobs.SubmitBackgroundAsync(client, fn, "good", "kept");
        }

        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await InsertAsync(table, 100, fn, "far", 1, now + (long)TimeSpan.FromDays(60).TotalSeconds); // within the horizon: replays
        await InsertAsync(table, 101, fn, string.Empty, 9, 0);
        await InsertAsync(table, 102, fn, string.Empty, 1, 10_000_000_000_000_000);
        await InsertAsync(table, 103, fn, new string('u', 65), 1, 0);

        await using (var server = await StartAsync(table))
        await using (var admin = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Equal(2, await RawJobs.QueuedAsync(admin, fn));
        }

        var quarantined = await QuarantinedAsync(table);
        Assert.Equal([101L, 102L, 103L], quarantined.Select(q => q.Id));
        Assert.Contains("priority 9", quarantined[0].Reason, StringComparison.Ordinal);
        Assert.Contains("epoch 10000000000000000 is more than 315360000 s", quarantined[1].Reason, StringComparison.Ordinal);
        Assert.Contains("unique ID has 65 bytes", quarantined[2].Reason, StringComparison.Ordinal);

        await using (var server = await StartAsync(table))
        await using (var admin = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Equal(2, await RawJobs.QueuedAsync(admin, fn));
        }

        Assert.Equal(3, (await QuarantinedAsync(table)).Count);
    }

    private Task<IServerUnderTest> StartAsync(string table)
        => TestServers.StartAsync(
            ServerKind.Ours,
            new ServerStartOptions { QueueType = "postgres", PostgresConnectionString = _cluster.ConnectionString, QueueTable = table },
            TestContext.Current.CancellationToken);

    private async Task InsertAsync(string table, long id, string function, string unique, short priority, long epoch)
    {
        await using var connection = new NpgsqlConnection(_cluster.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(
            $"INSERT INTO {table} (id, function_name, unique_key, reducer, priority, when_epoch, data, retries) VALUES ($1, $2, $3, ''::bytea, $4, $5, 'd'::bytea, 0)",
            connection);
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        command.Parameters.Add(new NpgsqlParameter { Value = System.Text.Encoding.UTF8.GetBytes(function) });
        command.Parameters.Add(new NpgsqlParameter { Value = System.Text.Encoding.UTF8.GetBytes(unique) });
        command.Parameters.Add(new NpgsqlParameter { Value = priority });
        command.Parameters.Add(new NpgsqlParameter { Value = epoch });
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    private async Task<List<(long Id, string Reason)>> QuarantinedAsync(string table)
    {
        await using var connection = new NpgsqlConnection(_cluster.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand($"SELECT id, reason FROM {table}_quarantine ORDER BY quarantine_id", connection);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var rows = new List<(long, string)>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken)) rows.Add((reader.GetInt64(0), reader.GetString(1)));
        return rows;
    }
}
