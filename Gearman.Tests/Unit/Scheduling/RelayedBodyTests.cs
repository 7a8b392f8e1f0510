using Gearman.Server.Scheduling;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>
/// A large worker result relayed from its request buffer goes back to the pool only once the scheduler has released it
/// and every client's send has ended, in either order; returned buffers are poisoned in tests, so an early return shows.
/// </summary>
[Trait("Category", "Unit")]
public sealed class RelayedBodyTests
{
    [Fact]
    public void A_relayed_body_keeps_its_bytes_until_the_scheduler_and_every_send_are_done_in_either_order()
    {
        var buffer = Filled(out var relayed);
        var toFirst = relayed.Lend();
        var toSecond = relayed.Lend();
        Assert.Equal(buffer.Length, toFirst.Count);

        Assert.All(toFirst, b => Assert.Equal(1, b));
        relayed.EndLend();
        relayed.Release();
        Assert.DoesNotContain(RequestBuffers.Poison, toSecond.AsSpan().ToArray());

        relayed.EndLend();
        Assert.All(buffer, b => Assert.Equal(RequestBuffers.Poison, b));

        var other = Filled(out var sentFirst);
        sentFirst.Lend();
        sentFirst.Release();
        Assert.DoesNotContain(RequestBuffers.Poison, other);
        sentFirst.EndLend();
        Assert.All(other, b => Assert.Equal(RequestBuffers.Poison, b));
    }

    [Fact]
    public void A_relayed_body_no_client_sent_is_returned_by_the_release()
    {
        var buffer = Filled(out var relayed);
        Assert.Equal(buffer.Length, relayed.Body.Length);
        relayed.Release();
        Assert.All(buffer, b => Assert.Equal(RequestBuffers.Poison, b));
    }

    /// <summary>A large body of 1s, longer than the recycled bodies (so no other test is given it once it is returned).</summary>
    private static byte[] Filled(out RelayedBody relayed)
    {
        var buffer = RequestBuffers.Rent(RecycledBodies.Shared.MaxLength + 100);
        buffer.AsSpan().Fill(1);
        relayed = new RelayedBody(buffer, buffer.Length);
        return buffer;
    }
}
