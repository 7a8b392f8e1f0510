using System.Globalization;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Client;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Interop.Client;

/// <summary>The client over two real gearmands: spreading, hashing unique IDs, and failing over when one is killed.</summary>
[Trait("Category", "Interop")]
public sealed class ClientFailoverTests
{
    [Fact(Timeout = 90_000)]
    public async Task Jobs_spread_over_two_servers_and_move_to_the_survivor_when_one_is_killed()
    {
        var s1 = await TestServers.StartAsync(ServerKind.Gearmand, ct: Ct);
        await using var s2 = await TestServers.StartAsync(ServerKind.Gearmand, ct: Ct);
        try
        {
            string fn = TestNames.Unique("spread");
            var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var w1 = await TestWorker.StartAsync(s1, fn, async job =>
            {
                if (job.PayloadText == "hold")
                {
                    running.SetResult();
                    await release.Task;
                }

                await job.CompleteAsync("s1");
            });
            await using var w2 = await TestWorker.StartAsync(s2, fn, job => job.CompleteAsync("s2"));
            await using var client = NewClient(s1, s2);

            // No unique ID: round-robin over both servers.
            var before = new List<string>();
            for (int i = 0; i < 6; i++) before.Add(Text(await client.ExecuteAsync(fn, Bytes($"job {i}"), cancellationToken: Ct)));
            Assert.Equal(3, before.Count(r => r == "s1"));
            Assert.Equal(3, before.Count(r => r == "s2"));

            // A job running on s1 when s1 dies fails; it cannot be recovered.
            string onS1 = UniqueFor(client, 0);
            var held = client.Submit(fn, Bytes("hold"), new GearmanJobOptions { Unique = onS1 }).StartNow();
            Assert.Equal(s1.Address(), (await held.CreatedAsync()).Job.Server);
            await running.Task.WaitAsync(Wait, Ct);
            await s1.DisposeAsync();
            var lost = await Assert.ThrowsAsync<GearmanConnectionException>(() => held.EventsAsync());
            Assert.Contains("was running", lost.Message, StringComparison.Ordinal);

            // Everything after goes to s2, including the unique ID that hashes to s1.
            var after = new List<TaskEvent>();
            for (int i = 0; i < 4; i++) after.Add((await client.Submit(fn, Bytes($"after {i}")).EventsAsync())[^1]);
            after.Add((await client.Submit(fn, Bytes("hashed"), new GearmanJobOptions { Unique = onS1 }).EventsAsync())[^1]);
            Assert.All(after, e => Assert.Equal("s2", Text(e.Data)));
            Assert.All(after, e => Assert.Equal(s2.Address(), e.Job.Server));
            release.SetResult();
        }
        finally
        {
            await s1.DisposeAsync();
        }
    }

    [Fact(Timeout = 90_000)]
    public async Task A_unique_id_picks_the_same_server_from_every_client_so_jobs_coalesce_across_servers()
    {
        await using var s1 = await TestServers.StartAsync(ServerKind.Gearmand, ct: Ct);
        await using var s2 = await TestServers.StartAsync(ServerKind.Gearmand, ct: Ct);
        string fn = TestNames.Unique("cross");
        await using var client1 = NewClient(s1, s2);
        await using var client2 = NewClient(s2, s1); // listed in another order: rendezvous hashing does not care

        for (int i = 0; i < 4; i++)
        {
            string unique = TestNames.Unique("key");
            var a = client1.Submit(fn, Bytes("a"), new GearmanJobOptions { Unique = unique }).StartNow();
            var createdA = await a.CreatedAsync();
            var b = client2.Submit(fn, Bytes("b"), new GearmanJobOptions { Unique = unique }).StartNow();
            var createdB = await b.CreatedAsync();
            Assert.Equal(createdA.Job, createdB.Job);
        }

        // And different IDs do land on both servers.
        var servers = new HashSet<string>();
        for (int i = 0; servers.Count < 2 && i < 64; i++)
        {
            var handle = await client1.SubmitBackgroundAsync(fn, Bytes("bg"), new GearmanJobOptions { Unique = $"spread-{i}" }, Ct);
            servers.Add(handle.Server);
        }

        Assert.Equal(2, servers.Count);
    }

    [Fact(Timeout = 90_000)]
    public async Task A_submit_whose_server_dies_before_JOB_CREATED_completes_on_the_other_server()
    {
        var s1 = await TestServers.StartAsync(ServerKind.Gearmand, ct: Ct);
        await using var s2 = await TestServers.StartAsync(ServerKind.Gearmand, ct: Ct);
        try
        {
            string fn = TestNames.Unique("retry");
            await using var w2 = await TestWorker.StartAsync(s2, fn, job => job.CompleteAsync("from s2: " + job.PayloadText));
            await using var client = NewClient(s1, s2);
            string onS1 = UniqueFor(client, 0);
            var options = new GearmanJobOptions { Unique = onS1, Background = true };
            Assert.Equal(s1.Address(), (await client.SubmitBackgroundAsync(fn, Bytes("warm-up"), options, Ct)).Server);

            // Freeze s1 so the submit is sent but never acknowledged, then kill it.
            await using (var stop = await ExternalProgram.RunAsync("/bin/kill", ["-STOP", s1.ProcessId.ToString(CultureInfo.InvariantCulture)]))
            {
                Assert.Equal(0, await stop.WaitForExitAsync());
            }

            var task = client.Submit(fn, Bytes("payload"), new GearmanJobOptions { Unique = onS1 }).StartNow();
            await s1.DisposeAsync();

            var events = await task.EventsAsync();
            Assert.Equal(s2.Address(), events[0].Job.Server);
            Assert.Equal("from s2: payload", Text(events[^1].Data));
            Assert.Equal(onS1, Assert.Single(w2.Jobs).Unique);
        }
        finally
        {
            await s1.DisposeAsync();
        }
    }
}
