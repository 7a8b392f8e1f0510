using System.Diagnostics.Metrics;
using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Gearman.Server.Persistence;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Persistence;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Gearman.Tests.Integration.Server;

/// <summary>The server's System.Diagnostics.Metrics instruments, read with a listener scoped to one server's meter factory.</summary>
[Trait("Category", "Integration")]
public sealed class ServerMetricsTests
{
    private const string Connections = "gearman.server.connections";
    private const string Submitted = "gearman.server.jobs.submitted";
    private const string Finished = "gearman.server.jobs.finished";
    private const string Active = "gearman.server.jobs.active";
    private const string Running = "gearman.server.jobs.running";

    [Fact]
    public async Task A_foreground_job_is_counted_from_submit_through_coalescing_to_completion()
    {
        await using var server = await StartAsync(new GearmanServerOptions { Port = 0, ListenAddress = "127.0.0.1", QueueType = QueueType.Memory });
        using var probe = Probe(server);
        string fn = TestNames.Unique("metrics");
        await using var client = await ConnectAsync(server);
        await using var joiner = await ConnectAsync(server);
        await using var worker = await ConnectAsync(server);

        await client.SendAsync(PacketType.SubmitJob, fn, "u1", "data");
        string handle = (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
        await joiner.SendAsync(PacketType.SubmitJob, fn, "u1", "data");
        Assert.Equal(handle, (await joiner.ExpectPacketAsync(PacketType.JobCreated)).BodyText);
        Assert.Equal(1, probe.Sum(Submitted, "gearman.job.priority=normal", "gearman.job.background=False"));
        Assert.Equal(1, probe.Sum("gearman.server.jobs.coalesced"));
        Assert.Equal(1, probe.Sum(Active));
        Assert.Equal(0, probe.Sum(Running));

        await worker.SendAsync(PacketType.CanDo, fn);
        var job = (await RawJobs.GrabAsync(worker))!;
        Assert.Equal(handle, job.Handle);
        Assert.Equal(1, probe.Sum(Running));

        await RawJobs.CompleteAsync(worker, job.Handle, "done");
        await client.ExpectPacketAsync(PacketType.WorkComplete);
        Assert.Equal(1, probe.Sum(Finished, "gearman.job.outcome=completed"));
        Assert.Equal(0, probe.Sum(Active));
        Assert.Equal(0, probe.Sum(Running));
        Assert.Equal(3, probe.Sum(Connections));
    }

    [Fact]
    public async Task Lost_workers_requeue_and_cancelled_or_exhausted_jobs_are_counted_by_outcome()
    {
        await using var server = await StartAsync(new GearmanServerOptions { Port = 0, ListenAddress = "127.0.0.1", QueueType = QueueType.Memory, JobRetries = 2 });
        using var probe = Probe(server);
        string fn = TestNames.Unique("metrics");
        await using var client = await ConnectAsync(server);
        string cancelled = await RawJobs.SubmitBackgroundAsync(client, fn, "c", "x", PacketType.SubmitJobHighBg);
        Assert.Equal(1, probe.Sum(Submitted, "gearman.job.priority=high", "gearman.job.background=True"));

        // The first worker takes the job and vanishes: requeued.
        await using (var lost = await ConnectAsync(server))
        {
            await lost.SendAsync(PacketType.CanDo, fn);
            Assert.Equal(cancelled, (await RawJobs.GrabAsync(lost))!.Handle);
        }

        await probe.WaitUntilAsync(p => p.Sum("gearman.server.jobs.requeued") == 1 && p.Sum(Running) == 0);
        await using (var admin = await ConnectAsync(server))
        {
            Assert.Equal("OK", await admin.AdminAsync("cancel job " + cancelled));
        }

        Assert.Equal(1, probe.Sum(Finished, "gearman.job.outcome=cancelled"));

        // With --job-retries 2, the second lost worker exhausts the job's retries.
        string dropped = await RawJobs.SubmitBackgroundAsync(client, fn, "d", "y");
        for (int attempt = 0; attempt < 2; attempt++)
        {
            await using var doomed = await ConnectAsync(server);
            await doomed.SendAsync(PacketType.CanDo, fn);
            Assert.Equal(dropped, (await RawJobs.GrabAsync(doomed))!.Handle);
        }

        await probe.WaitUntilAsync(p => p.Sum(Finished, "gearman.job.outcome=retries_exhausted") == 1);
        Assert.Equal(2, probe.Sum("gearman.server.jobs.requeued"));
        await probe.WaitUntilAsync(p => p.Sum(Active) == 0 && p.Sum(Connections) == 1);
    }

    [Fact]
    public async Task Closed_connections_are_subtracted_and_store_commits_are_measured()
    {
        using var dir = new TempDirectory("metrics");
        await using var server = await StartAsync(new GearmanServerOptions
        {
            Port = 0,
            ListenAddress = "127.0.0.1",
            QueueType = QueueType.Sqlite,
            SqliteDatabase = dir.File("queue.db"),
        });
        using var probe = Probe(server);
        string fn = TestNames.Unique("metrics");
        await using (var client = await ConnectAsync(server))
        {
            await RawJobs.SubmitBackgroundAsync(client, fn, "s", "data", PacketType.SubmitJobLowBg);

            // JOB_CREATED follows the commit, and the commit is recorded before it is acknowledged.
            Assert.True(probe.Sum("gearman.server.store.commit.operations") >= 1, probe.Dump());
            Assert.True(probe.Sum("gearman.server.store.commit.duration") > 0, probe.Dump());
            Assert.Equal(1, probe.Sum(Submitted, "gearman.job.priority=low", "gearman.job.background=True"));
            Assert.Equal(1, probe.Sum(Connections));
        }

        await probe.WaitUntilAsync(p => p.Sum(Connections) == 0);
        Assert.Equal(0, probe.Sum("gearman.server.store.failures"));
    }

    private static async Task<GearmanServer> StartAsync(GearmanServerOptions options)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TestServers.StartTimeout);
        return await GearmanServer.StartAsync(options, timeout.Token);
    }

    private static MetricsProbe Probe(GearmanServer server) => new(server.Services.GetRequiredService<IMeterFactory>(), ServerMetrics.MeterName);

    private static Task<RawGearmanConnection> ConnectAsync(GearmanServer server) => RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port);
}
