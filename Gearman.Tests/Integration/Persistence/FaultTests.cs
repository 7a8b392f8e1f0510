using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>
/// Faults with real parts: our server as its own process on an SQLite file, killed with SIGKILL; workers and clients as
/// raw sockets and as libgearman programs that are killed or outlive the server. Each test checks that nothing is lost
/// and that nothing runs more often than the at-least-once contract allows: a job runs again only if it had been handed
/// to a worker before the fault (it was running, or its completion's delete was not yet durable).
/// </summary>
[Trait("Category", "Integration")]
public sealed class FaultTests : IDisposable
{
    private readonly TempDirectory _directory = new("fault");

    private string Database => _directory.File("queue.db");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Killing_the_server_with_10000_queued_jobs_and_some_running_loses_none_and_repeats_only_those_handed_out()
    {
        const int Count = 10_000;
        string fn = TestNames.Unique("crash");
        var handedOut = new HashSet<string>();
        var running = new HashSet<string>();
        await using (var server = await ServerProcess.StartAsync(SqliteArguments(), ct: TestContext.Current.CancellationToken))
        {
            await using var client = await RawGearmanConnection.ConnectAsync(server);
            var requests = new MemoryStream();
            for (int i = 0; i < Count; i++)
            {
                var type = (i % 10) switch { 0 => PacketType.SubmitJobHighBg, 1 => PacketType.SubmitJobLowBg, _ => PacketType.SubmitJobBg };
                requests.Write(RawGearmanConnection.Encode(type, fn, $"j{i}", $"{i}"));
            }

            await client.SendRawAsync(requests.ToArray(), TestContext.Current.CancellationToken);
            var handles = new HashSet<string>();
            for (int i = 0; i < Count; i++) handles.Add((await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText);
            Assert.Equal(Count, handles.Count);

            // 100 jobs complete, 7 are running on two workers at the moment of the kill.
            await using var worker = await RawGearmanConnection.ConnectAsync(server);
            await using var other = await RawGearmanConnection.ConnectAsync(server);
            await worker.SendAsync(PacketType.CanDo, fn);
            await other.SendAsync(PacketType.CanDo, fn);
            for (int i = 0; i < 100; i++)
            {
                var job = (await RawJobs.GrabAsync(worker))!;
                handedOut.Add(job.Unique);
                await RawJobs.CompleteAsync(worker, job.Handle);
            }

            for (int i = 0; i < 7; i++) running.Add((await RawJobs.GrabAsync(i % 2 == 0 ? worker : other))!.Unique);
            handedOut.UnionWith(running);
            await server.KillAsync();
        }

        var runsAfter = new Dictionary<string, int>();
        await using (var server = await ServerProcess.StartAsync(SqliteArguments(), ct: TestContext.Current.CancellationToken))
        {
            await using var worker = await RawGearmanConnection.ConnectAsync(server);
            int replayed = await RawJobs.QueuedAsync(worker, fn);
            Assert.InRange(replayed, Count - 100, Count);

            await worker.SendAsync(PacketType.CanDo, fn);
            while (await RawJobs.GrabAsync(worker) is { } job)
            {
                runsAfter[job.Unique] = runsAfter.GetValueOrDefault(job.Unique) + 1;
                await RawJobs.CompleteAsync(worker, job.Handle);
            }

            Assert.Equal(replayed, runsAfter.Values.Sum());
            Assert.Equal(0, await RawJobs.QueuedAsync(worker, fn));
            await worker.DisposeAsync(); // a graceful stop waits for connected peers to leave
            Assert.Equal(0, await server.StopAsync());
        }

        // Nothing lost: every job ran before the kill or after the restart.
        var all = Enumerable.Range(0, Count).Select(i => $"j{i}").ToHashSet();
        Assert.Empty(all.Except(handedOut).Except(runsAfter.Keys));

        // Nothing repeated beyond the contract: after the restart each job ran once, and only jobs handed out before
        // the kill can have run twice. The seven running ones must run again.
        Assert.All(runsAfter.Values, n => Assert.Equal(1, n));
        Assert.Equal(Count - handedOut.Count, runsAfter.Keys.Except(handedOut).Count());
        Assert.Subset(runsAfter.Keys.ToHashSet(), running);

        // A graceful stop applied every delete.
        Assert.Empty(RawJobs.ReadSqlite(Database));
    }

    [Fact]
    public async Task A_worker_process_killed_mid_job_has_its_job_requeued_and_finished_by_another()
    {
        string fn = TestNames.Unique("killw");
        await using var server = await ServerProcess.StartAsync(SqliteArguments(), ct: TestContext.Current.CancellationToken);
        await using var client = await RawGearmanConnection.ConnectAsync(server);
        await RawJobs.SubmitBackgroundAsync(client, fn, "victim", "payload");

        await using (var hanging = await CPrograms.StartAsync("durable_peer", "worker", server.Host, Port(server), fn, "hang"))
        {
            await hanging.WaitForLineAsync(l => l == "RUN victim payload");
            Assert.Equal("0", Assert.Single(await client.AdminListAsync("show jobs")).Split('\t')[1]);
            Assert.Equal(1, await RawJobs.RunningAsync(client, fn));
            hanging.Kill();
            await hanging.Exited.WaitAsync(TimeSpan.FromSeconds(10));
        }

        // Requeued with one retry counted, and queued again (not running).
        await PollAsync(client, async () => Assert.Single(await client.AdminListAsync("show jobs")).Split('\t')[1] == "1", "the requeue");
        Assert.Equal(0, await RawJobs.RunningAsync(client, fn));

        await using (var healthy = await CPrograms.StartAsync("durable_peer", "worker", server.Host, Port(server), fn))
        {
            await healthy.WaitForLineAsync(l => l == "DONE victim");
            Assert.Single(healthy.OutputLines, l => l.StartsWith("RUN ", StringComparison.Ordinal));
        }

        // The job is gone once the worker completed it, from memory and (after a graceful stop, at the latest) from the store.
        Assert.Equal(0, await RawJobs.QueuedAsync(client, fn));
        await client.DisposeAsync();
        Assert.Equal(0, await server.StopAsync());
        Assert.Empty(RawJobs.ReadSqlite(Database));
    }

    [Fact]
    public async Task Clients_that_vanish_lose_their_foreground_jobs_while_their_background_jobs_survive_a_server_kill()
    {
        string fn = TestNames.Unique("vanish");
        await using (var server = await ServerProcess.StartAsync(SqliteArguments(), ct: TestContext.Current.CancellationToken))
        {
            await using (var client = await RawGearmanConnection.ConnectAsync(server))
            {
                await client.SendAsync(PacketType.SubmitJob, fn, "fg", "foreground");
                await client.ExpectPacketAsync(PacketType.JobCreated);
                await RawJobs.SubmitBackgroundAsync(client, fn, "bg", "background");

                // A foreground submit that joins the background job: its client leaving must not take the job along.
                await client.SendAsync(PacketType.SubmitJob, fn, "bg", "ignored");
                await client.ExpectPacketAsync(PacketType.JobCreated);
            }

            // A client that submits and leaves without waiting for the reply: the job is still saved and queued.
            await using (var hasty = await RawGearmanConnection.ConnectAsync(server))
            {
                await hasty.SendAsync(PacketType.SubmitJobLowBg, fn, "hasty", "background too");
            }

            await using var admin = await RawGearmanConnection.ConnectAsync(server);
            await PollAsync(admin, async () => (await admin.AdminListAsync("show jobs")).Count == 2, "the foreground job dropped and both background jobs durable");
            Assert.Equal(2, await RawJobs.QueuedAsync(admin, fn));
            await server.KillAsync();
        }

        await using (var server = await ServerProcess.StartAsync(SqliteArguments(), ct: TestContext.Current.CancellationToken))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            await worker.SendAsync(PacketType.CanDo, fn);
            var ran = new List<string>();
            while (await RawJobs.GrabAsync(worker) is { } job)
            {
                ran.Add(job.Data);
                await RawJobs.CompleteAsync(worker, job.Handle);
            }

            Assert.Equal(["background", "background too"], ran);
        }
    }

    [Fact]
    public async Task Libgearman_workers_and_clients_reconnect_after_a_server_kill_and_carry_on()
    {
        const int Count = 1000;
        string fn = TestNames.Unique("restart");
        var server = await ServerProcess.StartAsync(SqliteArguments(), ct: TestContext.Current.CancellationToken);
        int port = server.Port;
        try
        {
            await using var worker = await CPrograms.StartAsync("durable_peer", "worker", server.Host, Port(server), fn);
            await using var client = await CPrograms.StartWithInputAsync(
                "durable_peer", "client", server.Host, Port(server), fn, Count.ToString(System.Globalization.CultureInfo.InvariantCulture), "r", (Count / 4).ToString(System.Globalization.CultureInfo.InvariantCulture));

            // Kill while the client is in the middle of its submits (it pauses a quarter of the way, whatever the
            // machine's speed) and the worker is busy.
            await client.WaitForLineAsync(l => l == "PAUSED");
            await worker.WaitForLinesAsync(l => l.StartsWith("DONE ", StringComparison.Ordinal), 20);
            await server.KillAsync();
            Assert.Equal(Count / 4, client.OutputLines.Count(l => l.StartsWith("SUBMITTED ", StringComparison.Ordinal)));
            await server.DisposeAsync();

            // The client goes on while the server is down: its next submit fails and is retried.
            await client.WriteInputLineAsync("go");
            await client.WaitForLineAsync(l => l.StartsWith("RETRY ", StringComparison.Ordinal));

            // Same port, same database: the peers find it again on their own.
            server = await ServerProcess.StartAsync(SqliteArguments(), port, TestContext.Current.CancellationToken);
            Assert.Equal(0, await client.WaitForExitAsync(TimeSpan.FromSeconds(120)));
            var done = new HashSet<string>();
            await worker.WaitForLinesAsync(l => l.StartsWith("DONE ", StringComparison.Ordinal) && done.Add(l[5..]) && done.Count == Count, 1, TimeSpan.FromSeconds(120));

            var clientLines = client.OutputLines;
            Assert.Equal(Count, clientLines.Count(l => l.StartsWith("SUBMITTED ", StringComparison.Ordinal)));
            Assert.Contains(clientLines, l => l.StartsWith("RETRY ", StringComparison.Ordinal));
            // The worker noticed the outage (its first ERROR line; it prints none otherwise) and carried on after it.
            var workerLines = worker.OutputLines;
            int noticed = workerLines.ToList().FindIndex(l => l.StartsWith("ERROR ", StringComparison.Ordinal));
            Assert.True(noticed >= 0, "the worker should have seen the server go away");
            Assert.Contains(workerLines.Skip(noticed), l => l.StartsWith("DONE ", StringComparison.Ordinal));

            // Runs: once each, with two exceptions that may run once more: jobs the worker had started before the kill,
            // and jobs whose submit the client retried (the server may have saved it and died before answering; the
            // replayed job can finish before the retried submit arrives, which then creates a new job).
            var startedBefore = workerLines.Take(noticed).Where(l => l.StartsWith("RUN ", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]).ToHashSet();
            var retried = clientLines.Where(l => l.StartsWith("RETRY ", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]).ToHashSet();
            var runs = workerLines.Where(l => l.StartsWith("RUN ", StringComparison.Ordinal)).GroupBy(l => l.Split(' ')[1]).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(Count, runs.Count);
            Assert.All(runs, r => Assert.True(r.Value == 1 || (r.Value == 2 && (startedBefore.Contains(r.Key) || retried.Contains(r.Key))), $"{r.Key} ran {r.Value} times"));

            await worker.DisposeAsync();
            Assert.Equal(0, await server.StopAsync());
            Assert.Empty(RawJobs.ReadSqlite(Database));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    private static string Port(IServerUnderTest server) => server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Re-asks the server (one admin round trip at a time) until <paramref name="condition"/> holds. For server-side
    /// effects of a disconnect, which the protocol does not announce to anyone.
    /// </summary>
    private static async Task PollAsync(RawGearmanConnection admin, Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                var state = string.Join("\n", await admin.AdminListAsync("show jobs"));
                throw new TimeoutException($"Timed out waiting for {what}. show jobs:\n{state}");
            }

            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_retry_limit_holds_across_a_server_kill_which_itself_is_not_counted_as_an_attempt()
    {
        // -j 3: a job runs at most three times when its worker keeps getting lost.
        string fn = TestNames.Unique("retrykill");
        string[] arguments = [.. SqliteArguments(), "--job-retries", "3"];
        int runs = 0;
        await using (var server = await ServerProcess.StartAsync(arguments, ct: TestContext.Current.CancellationToken))
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            await RawJobs.SubmitBackgroundAsync(client, fn, "r", "fails");
            await worker.SendAsync(PacketType.CanDo, fn);
            for (int lost = 1; lost <= 2; lost++)
            {
                Assert.Equal("r", (await RawJobs.GrabAsync(worker))!.Unique);
                runs++;
                await worker.SendAsync(PacketType.ResetAbilities);
                await RawJobs.RoundTripAsync(worker);
                await worker.SendAsync(PacketType.CanDo, fn);
            }

            // A later add is acknowledged only once its transaction, and every operation queued before it (the retry
            // counts), is durable.
            await RawJobs.SubmitBackgroundAsync(client, TestNames.Unique("marker"), "m", "x");

            // Running for the third time when the server dies: the crash is the server's failure, not the job's.
            Assert.Equal("r", (await RawJobs.GrabAsync(worker))!.Unique);
            runs++;
            await server.KillAsync();
        }

        Assert.Equal(2, RawJobs.ReadSqlite(Database).Single(r => r.Unique == "r").Retries);
        await using (var server = await ServerProcess.StartAsync(arguments, ct: TestContext.Current.CancellationToken))
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            await worker.SendAsync(PacketType.CanDo, fn);
            var job = (await RawJobs.GrabAsync(worker))!;
            Assert.Equal("r", job.Unique);
            runs++;
            Assert.Equal(2, await RawJobs.RetriesAsync(client, job.Handle));

            // The third lost run (the crashed one did not count) reaches the limit: dropped, deleted, never run again.
            await worker.SendAsync(PacketType.ResetAbilities);
            await RawJobs.RoundTripAsync(worker);
            await worker.SendAsync(PacketType.CanDo, fn);
            Assert.Null(await RawJobs.GrabAsync(worker));
            Assert.Equal(0, await RawJobs.QueuedAsync(client, fn));
            await server.StopAsync();
        }

        Assert.Equal(4, runs);
        Assert.DoesNotContain(RawJobs.ReadSqlite(Database), r => r.Unique == "r");
    }

    private string[] SqliteArguments() => ["--queue-type", "sqlite", "--sqlite-db", Database];
}
