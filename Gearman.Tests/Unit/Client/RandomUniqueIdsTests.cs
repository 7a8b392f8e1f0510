using Gearman.Reactive.Client;
using Xunit;

namespace Gearman.Tests.Unit.Client;

/// <summary>The unique IDs generated for jobs submitted without one.</summary>
[Trait("Category", "Unit")]
public sealed class RandomUniqueIdsTests
{
    [Fact]
    public void Ids_are_distinct_random_version_4_uuids_across_block_refills_and_threads()
    {
        // Several threads, each over many refills of its block (128 IDs): no repeats, all RFC 9562 version 4.
        var perThread = new Guid[4][];
        var threads = Enumerable.Range(0, perThread.Length).Select(t => new Thread(() =>
        {
            var ids = new Guid[1000];
            for (int i = 0; i < ids.Length; i++) ids[i] = RandomUniqueIds.Next();
            perThread[t] = ids;
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();

        var all = perThread.SelectMany(ids => ids).ToArray();
        Assert.Equal(all.Length, all.Distinct().Count());
        Assert.All(all, id =>
        {
            Assert.Equal(4, id.Version);
            Assert.Equal(0x8, id.Variant & 0xC); // variant 10xx
            Assert.True(Guid.TryParse(id.ToString("D"), out _));
        });

        // Random, not a counter: the bits that are not fixed by the layout vary in every position.
        var varying = new bool[16];
        for (int i = 1; i < all.Length; i++)
        {
            var a = all[0].ToByteArray(bigEndian: true);
            var b = all[i].ToByteArray(bigEndian: true);
            for (int k = 0; k < 16; k++) varying[k] |= a[k] != b[k];
        }

        Assert.All(varying, Assert.True);
    }
}
