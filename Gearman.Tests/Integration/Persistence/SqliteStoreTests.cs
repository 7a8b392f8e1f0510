using System.Globalization;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>
/// The default store, SQLite on disk, through our server in-process (protocol.md §6.2 with the differences we chose: every job
/// its own row, the reducer kept). Each test has its own database file; stopping the server drains the store writer,
/// so the file can be checked after a stop.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SqliteStoreTests : IDisposable
{
    private readonly TempDirectory _directory = new("sqlite");

    private string Database => _directory.File("queue.db");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Background_jobs_are_in_the_database_when_JOB_CREATED_arrives_and_foreground_jobs_never_are()
    {
        await using var server = await StartAsync();
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        string fn = TestNames.Unique("store");
        long when = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600;

        await RawJobs.SubmitBackgroundAsync(client, fn, "u-normal", "d1");
        Assert.Equal([(fn, "u-normal", "", 1, 0L, "d1")], Rows());

        await RawJobs.SubmitBackgroundAsync(client, fn, "u-high", "d2", PacketType.SubmitJobHighBg);
        await RawJobs.SubmitBackgroundAsync(client, fn, "u-low", "d3", PacketType.SubmitJobLowBg);
        await client.SendAsync(PacketType.SubmitJobEpoch, fn, "u-epoch", when.ToString(CultureInfo.InvariantCulture), "d4");
        await client.ExpectPacketAsync(PacketType.JobCreated);
        await client.SendAsync(PacketType.SubmitReduceJobBackground, fn, "u-reduce", "my-reducer", string.Empty, "d5");
        await client.ExpectPacketAsync(PacketType.JobCreated);
        Assert.Equal(
            [(fn, "u-normal", "", 1, 0L, "d1"), (fn, "u-high", "", 0, 0L, "d2"), (fn, "u-low", "", 2, 0L, "d3"), (fn, "u-epoch", "", 1, when, "d4"), (fn, "u-reduce", "my-reducer", 1, 0L, "d5")],
            Rows());

        // Foreground submits, and background submits that coalesce into a stored job, add no row.
        await client.SendAsync(PacketType.SubmitJob, fn, "u-fg", "fg");
        await client.ExpectPacketAsync(PacketType.JobCreated);
        await client.SendAsync(PacketType.SubmitJobHigh, fn, string.Empty, "fg2");
        await client.ExpectPacketAsync(PacketType.JobCreated);
        await RawJobs.SubmitBackgroundAsync(client, fn, "u-normal", "other data");
        await client.DisposeAsync();
        await server.DisposeAsync();
        Assert.Equal(5, Rows().Count);
    }

    [Fact]
    public async Task Rows_are_deleted_on_complete_fail_exception_cancel_and_retry_drop_and_kept_while_running()
    {
        string fn = TestNames.Unique("del");
        await using (var server = await StartAsync(jobRetries: 1))
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            foreach (var u in (string[])["complete", "fail", "exception", "drop", "cancel", "left"]) await RawJobs.SubmitBackgroundAsync(client, fn, u, "x");
            await worker.SendAsync(PacketType.CanDo, fn);

            var complete = (await RawJobs.GrabAsync(worker))!;
            Assert.Equal("complete", complete.Unique);
            Assert.Contains("complete", Rows().Select(r => r.Unique)); // running jobs stay stored
            await RawJobs.CompleteAsync(worker, complete.Handle);

            var fail = (await RawJobs.GrabAsync(worker))!;
            await worker.SendAsync(PacketType.WorkFail, fail.Handle);
            var exception = (await RawJobs.GrabAsync(worker))!;
            await worker.SendAsync(PacketType.WorkException, exception.Handle, "boom");

            // With --job-retries 1 a job whose worker dies is dropped; a foreground client that joined it hears of the drop.
            await using var watcher = await RawGearmanConnection.ConnectAsync(server);
            await using (var doomed = await RawGearmanConnection.ConnectAsync(server))
            {
                await doomed.SendAsync(PacketType.CanDo, fn);
                var drop = (await RawJobs.GrabAsync(doomed))!;
                Assert.Equal("drop", drop.Unique);
                await watcher.SendAsync(PacketType.SubmitJob, fn, "drop", "x");
                Assert.Equal(drop.Handle, (await watcher.ExpectPacketAsync(PacketType.JobCreated)).BodyText);
            }

            await watcher.ExpectPacketAsync(PacketType.WorkFail);
            await using var admin = await RawGearmanConnection.ConnectAsync(server);
            var jobs = await admin.AdminListAsync("show jobs");
            Assert.Equal(2, jobs.Count);
            Assert.All(jobs, j => Assert.EndsWith("\t1", j, StringComparison.Ordinal)); // persisted
            string cancelHandle = jobs[0].Split('\t')[0];
            Assert.Equal("OK", await admin.AdminAsync($"cancel job {cancelHandle}"));
            Assert.Equal(1, await RawJobs.QueuedAsync(admin, fn));
        }

        // The stopped server has applied every delete.
        Assert.Equal(["left"], Rows().Select(r => r.Unique));
    }

    [Fact]
    public async Task Replay_gives_new_handles_and_keeps_priority_order_unique_epoch_reducer_and_both_empty_unique_jobs()
    {
        string fn = TestNames.Unique("replay");
        long when = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600;
        var firstHandles = new List<string>();
        await using (var server = await StartAsync(handlePrefix: "first"))
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        {
            firstHandles.Add(await RawJobs.SubmitBackgroundAsync(client, fn, "low", "L", PacketType.SubmitJobLowBg));
            firstHandles.Add(await RawJobs.SubmitBackgroundAsync(client, fn, "normal", "N"));
            firstHandles.Add(await RawJobs.SubmitBackgroundAsync(client, fn, string.Empty, "E1"));
            firstHandles.Add(await RawJobs.SubmitBackgroundAsync(client, fn, string.Empty, "E2"));
            await client.SendAsync(PacketType.SubmitReduceJobBackground, fn, "reduce", "my-reducer", string.Empty, "R");
            firstHandles.Add((await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText);
            await client.SendAsync(PacketType.SubmitJobEpoch, fn, "epoch", when.ToString(CultureInfo.InvariantCulture), "later");
            firstHandles.Add((await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText);
            firstHandles.Add(await RawJobs.SubmitBackgroundAsync(client, fn, "high", "H", PacketType.SubmitJobHighBg));
        }

        Assert.Equal(7, firstHandles.Distinct().Count());
        Assert.Equal(7, Rows().Count);

        await using (var server = await StartAsync(handlePrefix: "second"))
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Equal(7, await RawJobs.QueuedAsync(client, fn));

            // Coalescing works on replayed jobs: a foreground submit joins the stored "normal" job and gets its result.
            await client.SendAsync(PacketType.SubmitJob, fn, "normal", "ignored");
            string joined = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
            Assert.StartsWith("second:", joined, StringComparison.Ordinal);

            await worker.SendAsync(PacketType.CanDo, fn);
            var order = new List<string>();
            while (true)
            {
                await worker.SendAsync(PacketType.GrabJobAll);
                var packet = await worker.ReadPacketAsync();
                if (packet.Type == (uint)PacketType.NoJob) break;
                var f = packet.Strings();
                Assert.StartsWith("second:", f[0], StringComparison.Ordinal);
                if (f[2] == "reduce")
                {
                    // gearmand drops the reducer on replay; we keep it.
                    Assert.Equal((uint)PacketType.JobAssignAll, packet.Type);
                    Assert.Equal(["my-reducer", "R"], f.Skip(3));
                }

                order.Add(f[^1]);
                await RawJobs.CompleteAsync(worker, f[0], "done");
                if (f[0] == joined)
                {
                    var result = await client.ExpectPacketAsync(PacketType.WorkComplete);
                    Assert.Equal(joined + "\0done", result.BodyText);
                }
            }

            // Priority first, then store order; the future epoch job waits (and stays stored).
            Assert.Equal(["H", "N", "E1", "E2", "R", "L"], order);
            Assert.Equal(1, await RawJobs.QueuedAsync(client, fn));
        }

        var left = Assert.Single(Rows());
        Assert.Equal((fn, "epoch", "", 1, when, "later"), left);
    }

    [Fact]
    public async Task Pipelined_submits_get_their_replies_in_request_order()
    {
        await using var server = await StartAsync();
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        string fn = TestNames.Unique("order");

        // One write: background submits (stored), a coalescing one, a foreground one, an echo, and a rejected one.
        byte[][] requests =
        [
            RawGearmanConnection.Encode(PacketType.SubmitJobBg, fn, "a", "1"),
            RawGearmanConnection.Encode(PacketType.SubmitJobBg, fn, "a", "ignored"),
            RawGearmanConnection.Encode(PacketType.SubmitJob, fn, "fg", "2"),
            RawGearmanConnection.Encode(PacketType.EchoReq, "ping"),
            RawGearmanConnection.Encode(PacketType.SubmitJobLowBg, fn, "b", "3"),
            RawGearmanConnection.Encode(PacketType.SubmitJobBg, fn, new string('u', 65), "4"),
            RawGearmanConnection.Encode(PacketType.SubmitJobBg, fn, "c", "5"),
        ];
        await client.SendRawAsync(requests.SelectMany(r => r).ToArray(), TestContext.Current.CancellationToken);

        string a = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
        Assert.Equal(a, (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText);
        string fg = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
        Assert.Equal("ping", (await client.ExpectPacketAsync(PacketType.EchoRes)).BodyText);
        string b = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
        Assert.StartsWith("ARGUMENT_TOO_LARGE\0", (await client.ExpectPacketAsync(PacketType.Error)).BodyText, StringComparison.Ordinal);
        string c = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
        Assert.Equal(4, new[] { a, fg, b, c }.Distinct().Count());

        // Each handle names the job submitted with it.
        await using var worker = await RawGearmanConnection.ConnectAsync(server);
        await worker.SendAsync(PacketType.CanDo, fn);
        var byUnique = new Dictionary<string, string>();
        while (await RawJobs.GrabAsync(worker) is { } job)
        {
            byUnique[job.Unique] = job.Handle;
            await RawJobs.CompleteAsync(worker, job.Handle);
        }

        Assert.Equal(a, byUnique["a"]);
        Assert.Equal(fg, byUnique["fg"]);
        Assert.Equal(b, byUnique["b"]);
        Assert.Equal(c, byUnique["c"]);
    }

    [Fact]
    public Task Retry_counts_are_stored_at_each_requeue_and_the_limit_holds_across_a_restart()
        => RawJobs.RetryCountsSurviveARestartAsync(
            () => StartAsync(jobRetries: 2),
            () => Task.FromResult<IReadOnlyList<(string, int)>>([.. RawJobs.ReadSqlite(Database).Select(r => (r.Unique, r.Retries))]));

    [Fact]
    public async Task A_table_made_before_retry_counts_were_stored_gets_the_column_and_its_jobs_replay()
    {
        string fn = TestNames.Unique("old");
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Database};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                CREATE TABLE gearman_jobs (id INTEGER PRIMARY KEY, function_name BLOB NOT NULL, unique_key BLOB NOT NULL,
                    reducer BLOB NOT NULL, priority INTEGER NOT NULL, when_epoch INTEGER NOT NULL, data BLOB NOT NULL);
                INSERT INTO gearman_jobs VALUES (7, CAST('{fn}' AS BLOB), CAST('u' AS BLOB), X'', 1, 0, CAST('old' AS BLOB));
                """;
            command.ExecuteNonQuery();
        }

        await using (var server = await StartAsync())
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Equal(1, await RawJobs.QueuedAsync(worker, fn));
        }

        Assert.Equal([(7L, "u", "old", 0)], RawJobs.ReadSqlite(Database).Select(r => (r.Id, r.Unique, r.Data, r.Retries)));
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_is_a_configuration_error_and_the_server_does_not_start()
    {
        await File.WriteAllTextAsync(Database, new string('x', 4096), TestContext.Current.CancellationToken);
        var error = await Assert.ThrowsAsync<Gearman.Server.Persistence.JobStoreUnavailableException>(() => StartAsync());
        Assert.Contains("queue.db", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_started_on_a_database_it_cannot_use_fails_to_start()
    {
        string notADirectory = _directory.File("file");
        await File.WriteAllTextAsync(notADirectory, "x", TestContext.Current.CancellationToken);
        var error = await Assert.ThrowsAsync<Gearman.Server.Persistence.JobStoreUnavailableException>(
            () => TestServers.StartAsync(ServerKind.Ours, new ServerStartOptions { QueueType = "sqlite", SqliteDatabase = Path.Combine(notADirectory, "queue.db") }, TestContext.Current.CancellationToken));
        Assert.Contains("queue.db", error.Message, StringComparison.Ordinal);
    }

    private Task<IServerUnderTest> StartAsync(int? jobRetries = null, string? handlePrefix = null)
        => TestServers.StartAsync(
            ServerKind.Ours,
            new ServerStartOptions { QueueType = "sqlite", SqliteDatabase = Database, JobRetries = jobRetries, HandlePrefix = handlePrefix },
            TestContext.Current.CancellationToken);

    private List<(string Function, string Unique, string Reducer, int Priority, long Epoch, string Data)> Rows()
        => [.. RawJobs.ReadSqlite(Database).Select(r => (r.Function, r.Unique, r.Reducer, r.Priority, r.Epoch, r.Data))];
}
