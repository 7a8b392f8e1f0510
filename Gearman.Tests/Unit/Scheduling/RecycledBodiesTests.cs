using Gearman.Server.Scheduling;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>
/// The recycled large bodies: a buffer given back is the next one of exactly its length, never one of another length,
/// and what is kept stays within its byte and buffer bounds, the oldest making room.
/// </summary>
[Trait("Category", "Unit")]
public sealed class RecycledBodiesTests
{
    [Fact]
    public void A_kept_buffer_is_given_only_for_exactly_its_length_newest_first()
    {
        var recycled = new RecycledBodies(capacityBytes: 1 << 20, maxLength: 1 << 18, slots: 8);
        byte[] older = new byte[5000], newer = new byte[5000], other = new byte[6000];
        Assert.True(recycled.Keep(older));
        Assert.True(recycled.Keep(other));
        Assert.True(recycled.Keep(newer));
        Assert.Equal(16_000, recycled.Bytes);

        Assert.Null(recycled.Take(4999));
        Assert.Null(recycled.Take(5001));
        Assert.Same(newer, recycled.Take(5000));
        Assert.Same(older, recycled.Take(5000));
        Assert.Null(recycled.Take(5000));
        Assert.Same(other, recycled.Take(6000));
        Assert.Equal(0, recycled.Bytes);
    }

    [Fact]
    public void What_is_kept_stays_within_its_bytes_and_buffers_dropping_the_oldest()
    {
        var recycled = new RecycledBodies(capacityBytes: 10_000, maxLength: 4_000, slots: 3);
        byte[] first = new byte[4000], second = new byte[3000], third = new byte[4000];
        recycled.Keep(first);
        recycled.Keep(second);
        recycled.Keep(third); // 11,000 bytes: the first goes
        Assert.Equal(7000, recycled.Bytes);
        Assert.Same(third, recycled.Take(4000));
        Assert.Null(recycled.Take(4000));

        recycled.Keep(new byte[100]);
        recycled.Keep(new byte[100]);
        recycled.Keep(new byte[100]); // four buffers in three slots: the second goes
        Assert.Null(recycled.Take(3000));
        Assert.Equal(300, recycled.Bytes);

        Assert.False(recycled.Keep(new byte[4001]));
        Assert.Null(recycled.Take(4001));
        Assert.Equal(300, recycled.Bytes);

        recycled.Clear();
        Assert.Equal(0, recycled.Bytes);
        Assert.Null(recycled.Take(100));
    }

    [Fact]
    public void A_large_request_buffer_given_back_is_the_next_of_its_length()
    {
        // A length no other test rents, so a parallel test cannot take it in between.
        const int length = 200_003;
        var buffer = RequestBuffers.Rent(length);
        RequestBuffers.Return(buffer);
        var next = RequestBuffers.Rent(length);
        Assert.Same(buffer, next);
        Assert.Equal(length, next.Length);
        RequestBuffers.Return(next);

        var longer = RequestBuffers.Rent(RecycledBodies.Shared.MaxLength + 1);
        RequestBuffers.Return(longer);
        Assert.NotSame(longer, RequestBuffers.Rent(RecycledBodies.Shared.MaxLength + 1));
    }
}
