using System.Runtime.CompilerServices;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Server.Scheduling;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>
/// What a queued job costs and what a drained burst leaves behind: a large body is exactly its length (no power-of-two
/// rounding), and once the jobs are done nothing in the server but the bounded recycled bodies still reaches their
/// bodies, so a collection frees them.
/// </summary>
[Trait("Category", "Unit")]
public sealed class DrainedBurstMemoryTests
{
    private const int BurstJobs = 40;

    [Theory]
    [InlineData((64 * 1024) + 12)]
    [InlineData(RequestBuffers.MaxPooledLength + 1)]
    [InlineData(3 * 1024 * 1024)]
    public void A_large_body_costs_exactly_its_length(int length)
    {
        var buffer = RequestBuffers.Rent(length);
        Assert.Equal(length, buffer.Length);
        RequestBuffers.Return(buffer);
    }

    [Fact]
    public void A_small_body_comes_from_the_pool_within_the_pooled_limit()
    {
        var buffer = RequestBuffers.Rent(RequestBuffers.MaxPooledLength - 100);
        Assert.InRange(buffer.Length, RequestBuffers.MaxPooledLength - 100, RequestBuffers.MaxPooledLength);
        RequestBuffers.Return(buffer);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_drained_burst_leaves_no_job_body_reachable(bool background)
    {
        var submit = background ? PacketType.SubmitJobBg : PacketType.SubmitJob;
        await using var h = new SchedulerHarness();
        var client = await h.ConnectAsync();
        var worker = await h.WorkerAsync("burst");
        string data = new('x', 64 * 1024);
        var bodies = new List<WeakReference>();
        var handles = new List<string>();
        for (int i = 0; i < BurstJobs; i++)
        {
            await PostTrackedAsync(h, client, submit, $"burst\0u{i}\0{data}", bodies);
            var created = await client.ReadPacketAsync();
            Assert.Equal((uint)PacketType.JobCreated, created.Type);
            handles.Add(created.BodyText);
        }

        Assert.Equal($"burst\t{BurstJobs}\t0\t1", await h.StatusOfAsync("burst"));
        GC.Collect();
        Assert.All(bodies, body => Assert.True(body.IsAlive, "a queued job's body was collected"));

        foreach (string handle in handles)
        {
            await worker.GrabExpectAsync(handle, "burst", data);
            await worker.SendAsync(PacketType.WorkComplete, handle, "done");
            if (!background) await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0done");
        }

        await worker.SyncAsync();
        await client.SyncAsync();
        Assert.Equal("burst\t0\t0\t1", await h.StatusOfAsync("burst"));

        // The recycled bodies may keep a few (at most their capacity); nothing else may reach any.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.InRange(bodies.Count(body => body.IsAlive), 0, RecycledBodies.Shared.CapacityBytes / data.Length);
        RecycledBodies.Shared.Clear();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.Equal(0, bodies.Count(body => body.IsAlive));
    }

    /// <summary>Posts the submit and keeps only a weak reference to the buffer the scheduler got (not inlined, so no local outlives it).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ValueTask PostTrackedAsync(SchedulerHarness h, TestPeer peer, PacketType type, string body, List<WeakReference> bodies)
    {
        var posted = h.PostPacketAsync(peer, type, Encoding.UTF8.GetBytes(body), out var buffer);
        bodies.Add(new WeakReference(buffer));
        return posted;
    }
}
