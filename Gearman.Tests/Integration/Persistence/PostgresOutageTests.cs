using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>The PostgreSQL server goes away under a running job server and comes back (its own cluster: the test stops it).</summary>
public sealed class PostgresOutageTests : IClassFixture<PostgresCluster>
{
    private readonly PostgresCluster _cluster;

    public PostgresOutageTests(PostgresCluster cluster)
    {
        _cluster = cluster;
    }

    [Fact]
    public async Task Losing_the_database_refuses_background_submits_keeps_foreground_jobs_running_and_catches_up_when_it_returns()
    {
        string table = PostgresCluster.NewTable("outage");
        string fn = TestNames.Unique("bg");
        string fgFn = TestNames.Unique("fg");
        await using var server = await ServerProcess.StartAsync(["--queue-type", "postgres", "--postgres", _cluster.ConnectionString, "--queue-table", table], ct: TestContext.Current.CancellationToken);
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        await using var worker = await RawGearmanConnection.ConnectAsync(server);
        await using var fgWorker = await RawGearmanConnection.ConnectAsync(server);
        await worker.SendAsync(PacketType.CanDo, fn);
        await fgWorker.SendAsync(PacketType.CanDo, fgFn);

        await RawJobs.SubmitBackgroundAsync(client, fn, "stored", "1");
        var stored = (await RawJobs.GrabAsync(worker))!;

        await _cluster.StopAsync();

        // Foreground work goes on.
        await client.SendAsync(PacketType.SubmitJob, fgFn, "fg", "foreground");
        string fgHandle = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
        var fgJob = (await RawJobs.GrabAsync(fgWorker))!;
        Assert.Equal(fgHandle, fgJob.Handle);
        await RawJobs.CompleteAsync(fgWorker, fgJob.Handle, "fine");
        Assert.Equal(fgHandle + "\0fine", (await client.ExpectPacketAsync(PacketType.WorkComplete)).BodyText);

        // Background submits are refused with a reason, never acknowledged.
        for (int i = 0; i < 3; i++)
        {
            await client.SendAsync(PacketType.SubmitJobBg, fn, $"refused{i}", "x");
            var error = await client.ExpectPacketAsync(PacketType.Error);
            Assert.StartsWith("QUEUE_ERROR\0The job store ", error.BodyText, StringComparison.Ordinal);
        }

        // The stored job finishes meanwhile; its delete must not be lost.
        await RawJobs.CompleteAsync(worker, stored.Handle);
        Assert.Equal(0, await RawJobs.QueuedAsync(client, fn));

        await _cluster.RestartAsync();
        await server.Process.WaitForErrorLineAsync(l => l.Contains("[401]", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        await RawJobs.SubmitBackgroundAsync(client, fn, "back", "2");

        // The catch-up batch ran before the new add: the finished job and the refused ones are not in the table.
        Assert.Equal(["back"], await UniquesAsync(table));
    }

    private async Task<List<string>> UniquesAsync(string table)
    {
        await using var connection = new NpgsqlConnection(_cluster.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand($"SELECT unique_key FROM {table} ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var uniques = new List<string>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken)) uniques.Add(System.Text.Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0)));
        return uniques;
    }
}
