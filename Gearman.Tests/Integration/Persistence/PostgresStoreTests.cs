using System.Globalization;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>
/// The PostgreSQL store against a real cluster (Debian's <c>postgresql</c>, started by the fixture on a loopback port).
/// Tests share the cluster and use a table each.
/// </summary>
[Trait("Category", "Integration")]
public sealed class PostgresStoreTests : IClassFixture<PostgresCluster>
{
    private readonly PostgresCluster _cluster;

    public PostgresStoreTests(PostgresCluster cluster)
    {
        _cluster = cluster;
    }

    [Fact]
    public async Task Background_jobs_are_stored_before_JOB_CREATED_and_deleted_when_they_finish()
    {
        string table = PostgresCluster.NewTable();
        string fn = TestNames.Unique("pg");
        await using (var server = await StartInProcessAsync(table))
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            await RawJobs.SubmitBackgroundAsync(client, fn, "a", "first", PacketType.SubmitJobHighBg);
            Assert.Equal([("a", 0, "first")], await RowsAsync(table));
            await RawJobs.SubmitBackgroundAsync(client, fn, string.Empty, "second");
            await RawJobs.SubmitBackgroundAsync(client, fn, string.Empty, "third");
            await client.SendAsync(PacketType.SubmitJob, fn, "fg", "foreground");
            await client.ExpectPacketAsync(PacketType.JobCreated);
            Assert.Equal([("a", 0, "first"), (string.Empty, 1, "second"), (string.Empty, 1, "third")], await RowsAsync(table));

            await worker.SendAsync(PacketType.CanDo, fn);
            var job = (await RawJobs.GrabAsync(worker))!;
            Assert.Equal("first", job.Data);
            await RawJobs.CompleteAsync(worker, job.Handle);
        }

        // Stopping drains the writer: the completed job's row is gone, the queued ones stay.
        Assert.Equal([(string.Empty, 1, "second"), (string.Empty, 1, "third")], await RowsAsync(table));
    }

    [Fact]
    public async Task Jobs_survive_a_server_kill_and_replay_from_PostgreSQL_with_priority_epoch_and_reducer()
    {
        string table = PostgresCluster.NewTable();
        string fn = TestNames.Unique("pgkill");
        long when = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600;
        await using (var server = await ServerProcess.StartAsync(Arguments(table), ct: TestContext.Current.CancellationToken))
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        {
            for (int i = 0; i < 50; i++) await RawJobs.SubmitBackgroundAsync(client, fn, $"n{i}", $"{i}");
            await RawJobs.SubmitBackgroundAsync(client, fn, "low", "L", PacketType.SubmitJobLowBg);
            await RawJobs.SubmitBackgroundAsync(client, fn, "high", "H", PacketType.SubmitJobHighBg);
            await client.SendAsync(PacketType.SubmitReduceJobBackground, fn, "reduce", "my-reducer", string.Empty, "R");
            await client.ExpectPacketAsync(PacketType.JobCreated);
            await client.SendAsync(PacketType.SubmitJobEpoch, fn, "epoch", when.ToString(CultureInfo.InvariantCulture), "later");
            await client.ExpectPacketAsync(PacketType.JobCreated);
            await server.KillAsync();
        }

        await using (var server = await StartInProcessAsync(table))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Equal(54, await RawJobs.QueuedAsync(worker, fn));
            await worker.SendAsync(PacketType.CanDo, fn);
            var order = new List<string>();
            while (true)
            {
                await worker.SendAsync(PacketType.GrabJobAll);
                var packet = await worker.ReadPacketAsync();
                if (packet.Type == (uint)PacketType.NoJob) break;
                var f = packet.Strings();
                if (f[2] == "reduce") Assert.Equal(["my-reducer", "R"], f.Skip(3));
                order.Add(f[^1]);
                await RawJobs.CompleteAsync(worker, f[0]);
            }

            Assert.Equal(["H", .. Enumerable.Range(0, 50).Select(i => $"{i}"), "R", "L"], order);
        }

        Assert.Equal([("epoch", 1, "later")], await RowsAsync(table));
    }

    [Fact]
    public Task Retry_counts_are_stored_at_each_requeue_and_the_limit_holds_across_a_restart()
    {
        string table = PostgresCluster.NewTable("retries");
        return RawJobs.RetryCountsSurviveARestartAsync(
            () => TestServers.StartAsync(
                ServerKind.Ours,
                new ServerStartOptions { QueueType = "postgres", PostgresConnectionString = _cluster.ConnectionString, QueueTable = table, JobRetries = 2 },
                TestContext.Current.CancellationToken),
            async () =>
            {
                await using var connection = new NpgsqlConnection(_cluster.ConnectionString);
                await connection.OpenAsync(TestContext.Current.CancellationToken);
                await using var command = new NpgsqlCommand($"SELECT unique_key, retries FROM {table} ORDER BY id", connection);
                await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
                var rows = new List<(string, int)>();
                while (await reader.ReadAsync(TestContext.Current.CancellationToken)) rows.Add((System.Text.Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0)), reader.GetInt32(1)));
                return rows;
            });
    }

    [Fact]
    public async Task A_database_that_does_not_exist_is_a_configuration_error_and_the_server_does_not_start()
    {
        var settings = new NpgsqlConnectionStringBuilder(_cluster.ConnectionString) { Database = "no_such_database" };
        var error = await Assert.ThrowsAsync<Gearman.Server.Persistence.JobStoreUnavailableException>(
            () => TestServers.StartAsync(
                ServerKind.Ours,
                new ServerStartOptions { QueueType = "postgres", PostgresConnectionString = settings.ConnectionString, QueueTable = PostgresCluster.NewTable() },
                TestContext.Current.CancellationToken));
        Assert.Contains("no_such_database", error.Message, StringComparison.Ordinal);
    }

    private Task<IServerUnderTest> StartInProcessAsync(string table)
        => TestServers.StartAsync(
            ServerKind.Ours,
            new ServerStartOptions { QueueType = "postgres", PostgresConnectionString = _cluster.ConnectionString, QueueTable = table },
            TestContext.Current.CancellationToken);

    private string[] Arguments(string table) => ["--queue-type", "postgres", "--postgres", _cluster.ConnectionString, "--queue-table", table];

    private async Task<List<(string Unique, int Priority, string Data)>> RowsAsync(string table)
    {
        await using var connection = new NpgsqlConnection(_cluster.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand($"SELECT unique_key, priority, data FROM {table} ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var rows = new List<(string, int, string)>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            rows.Add((System.Text.Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0)), reader.GetInt16(1), System.Text.Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(2))));
        }

        return rows;
    }
}
