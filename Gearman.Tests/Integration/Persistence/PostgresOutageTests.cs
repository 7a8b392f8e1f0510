using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>The PostgreSQL server goes away under a running job server and comes back (its own cluster: the test stops it).</summary>
[Trait("Category", "Integration")]
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

    [Fact]
    public async Task A_server_started_while_the_database_is_down_serves_foreground_jobs_refuses_background_ones_and_replays_the_queue_once_it_is_back()
    {
        string table = PostgresCluster.NewTable("degraded");
        string fn = TestNames.Unique("bg");
        string fgFn = TestNames.Unique("fg");
        string[] arguments = ["--queue-type", "postgres", "--postgres", _cluster.ConnectionString, "--queue-table", table];

        // Two jobs stored by an earlier run.
        await using (var earlier = await ServerProcess.StartAsync(arguments, ct: TestContext.Current.CancellationToken))
        await using (var client = await RawGearmanConnection.ConnectAsync(earlier))
        {
            await RawJobs.SubmitBackgroundAsync(client, fn, "s1", "one");
            await RawJobs.SubmitBackgroundAsync(client, fn, "s2", "two");
        }

        await _cluster.StopAsync();
        bool down = true;
        try
        {
            await using var server = await ServerProcess.StartAsync(arguments, ct: TestContext.Current.CancellationToken);
            string logged = await server.Process.WaitForErrorLineAsync(l => l.Contains("[406]", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            Assert.Contains("unavailable at start-up", logged, StringComparison.Ordinal);
            await using var client = await RawGearmanConnection.ConnectAsync(server);
            await using var worker = await RawGearmanConnection.ConnectAsync(server);
            await using var fgWorker = await RawGearmanConnection.ConnectAsync(server);

            // Foreground jobs run.
            await fgWorker.SendAsync(PacketType.CanDo, fgFn);
            await client.SendAsync(PacketType.SubmitJob, fgFn, "fg", "foreground");
            string fgHandle = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
            var fgJob = (await RawJobs.GrabAsync(fgWorker))!;
            Assert.Equal(fgHandle, fgJob.Handle);
            await RawJobs.CompleteAsync(fgWorker, fgJob.Handle, "fine");
            Assert.Equal(fgHandle + "\0fine", (await client.ExpectPacketAsync(PacketType.WorkComplete)).BodyText);

            // Background submits get the same ERROR as after losing the database later, and nothing is replayed yet.
            await client.SendAsync(PacketType.SubmitJobBg, fn, "refused", "x");
            var error = await client.ExpectPacketAsync(PacketType.Error);
            Assert.StartsWith("QUEUE_ERROR\0The job store is unavailable: ", error.BodyText, StringComparison.Ordinal);
            Assert.Equal(0, await RawJobs.QueuedAsync(client, fn));

            // A sleeping worker is woken by the replay once the database is back.
            await worker.SendAsync(PacketType.CanDo, fn);
            Assert.Null(await RawJobs.GrabAsync(worker));
            await worker.SendAsync(PacketType.PreSleep);
            await _cluster.RestartAsync();
            down = false;
            await worker.ExpectPacketAsync(PacketType.Noop, TimeSpan.FromSeconds(30));
            var replayed = new List<string>();
            while (await RawJobs.GrabAsync(worker) is { } job)
            {
                replayed.Add(job.Unique);
                await RawJobs.CompleteAsync(worker, job.Handle);
            }

            Assert.Equal(["s1", "s2"], replayed);

            // Background submits are accepted again; the finished jobs are deleted and the refused one was never stored.
            await RawJobs.SubmitBackgroundAsync(client, fn, "after", "3");
            Assert.Equal(["after"], await UniquesAsync(table));
        }
        finally
        {
            if (down) await _cluster.RestartAsync();
        }
    }

    private async Task<List<string>> UniquesAsync(string table)
    {
        // Unpooled: a pooled connection may be from before one of the restarts in this class.
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_cluster.ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand($"SELECT unique_key FROM {table} ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var uniques = new List<string>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken)) uniques.Add(System.Text.Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0)));
        return uniques;
    }
}
