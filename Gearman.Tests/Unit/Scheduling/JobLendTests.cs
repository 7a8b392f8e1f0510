using Gearman.Reactive;
using Gearman.Server.Scheduling;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>
/// A job's large body lent to a transport (a gathered send) goes back to the pool only after the job is released and
/// the last lend has ended, in either order; returned buffers are poisoned in tests, so an early return shows.
/// </summary>
[Trait("Category", "Unit")]
public sealed class JobLendTests
{
    private static readonly FunctionRecord Function = new("lend"u8.ToArray());

    [Fact]
    public void A_body_released_while_lent_keeps_its_bytes_until_the_last_lend_ends()
    {
        var job = NewJob(out var body);
        var first = job.Lend();
        var second = job.Lend();
        Assert.Equal(body.Length - 1, first.Count);

        job.Release();
        Assert.True(job.IsReleased);
        Assert.DoesNotContain(RequestBuffers.Poison, first.AsSpan().ToArray());

        job.EndLend();
        Assert.DoesNotContain(RequestBuffers.Poison, second.AsSpan().ToArray());

        job.EndLend();
        Assert.All(body, b => Assert.Equal(RequestBuffers.Poison, b));
    }

    [Fact]
    public void A_body_whose_lends_ended_before_the_release_is_returned_by_the_release()
    {
        var job = NewJob(out var body);
        job.Lend();
        job.EndLend();
        Assert.Equal(1, body[1]);

        job.Release();
        Assert.All(body, b => Assert.Equal(RequestBuffers.Poison, b));
    }

    [Fact]
    public void Only_a_large_body_can_be_lent()
    {
        var small = new Job(1, "H:t:1"u8.ToArray(), Function, RequestBuffers.Rent(100), default, default, new FieldSlice(0, 100), JobPriority.Normal, background: true, epoch: 0, sequence: 1);
        Assert.False(small.CanLendData);
        small.Release();
        Assert.True(NewJob(out _).CanLendData);
    }

    /// <summary>
    /// A job whose data is all of a large body but the first byte (0), filled with 1s. Longer than the recycled bodies,
    /// so once returned no other test can be given it and fill it while the poison is checked.
    /// </summary>
    private static Job NewJob(out byte[] body)
    {
        body = RequestBuffers.Rent(RecycledBodies.Shared.MaxLength + 1);
        body.AsSpan().Fill(1);
        body[0] = 0;
        return new Job(2, "H:t:2"u8.ToArray(), Function, body, default, default, new FieldSlice(1, body.Length - 1), JobPriority.Normal, background: true, epoch: 0, sequence: 2);
    }
}
