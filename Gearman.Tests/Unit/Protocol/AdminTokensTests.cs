using Gearman.Reactive.Protocol;
using Xunit;
using static Gearman.Tests.Unit.Protocol.TestSequence;

namespace Gearman.Tests.Unit.Protocol;

[Trait("Category", "Unit")]
public sealed class AdminTokensTests
{
    public static TheoryData<string, string[]> Splits => new()
    {
        { "status", ["status"] },
        { "show jobs", ["show", "jobs"] },
        { "maxqueue   f  1 2\t 3", ["maxqueue", "f", "1", "2\t", "3"] },
        { "  leading", ["", "leading"] },
        { "trailing   ", ["trailing", ""] },
        { "  both  ways  ", ["", "both", "ways", ""] },
        { "a b c d e", ["a", "b", "c", "d", "e"] },
        { "a    b c  d     e", ["a", "b", "c", "d", "e"] },
        { " a b c d", ["", "a", "b", "c", "d"] },
        { "a b c d ", ["a", "b", "c", "d", ""] },
        { "cancel job   ", ["cancel", "job", ""] },
        { "tab\tis\tnot\ta\tseparator", ["tab\tis\tnot\ta\tseparator"] },
        { "cr\rstays", ["cr\rstays"] },
        { "x", ["x"] },
    };

    [Theory]
    [MemberData(nameof(Splits))]
    public void Splits_on_runs_of_spaces(string line, string[] expected)
    {
        var bytes = Bytes(line);
        Assert.True(AdminTokens.TrySplit(bytes, out var tokens));

        Assert.Equal(expected.Length, tokens.Count);
        Assert.Equal(expected, Enumerable.Range(0, tokens.Count).Select(i => Text(tokens.Slice(bytes, i))));
        for (int i = 0; i < tokens.Count; i++)
        {
            Assert.Equal(tokens.Slice(bytes, i).Length, tokens[i].Length);
            Assert.Equal(expected[i], line.Substring(tokens[i].Offset, tokens[i].Length));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("     ")]
    public void A_line_of_spaces_or_nothing_is_one_empty_token(string line)
    {
        var bytes = Bytes(line);
        Assert.True(AdminTokens.TrySplit(bytes, out var tokens));

        Assert.Equal(1, tokens.Count);
        Assert.Equal(0, tokens[0].Length);
        Assert.True(tokens.Slice(bytes, 0).IsEmpty);
        Assert.True(tokens.Is(bytes, 0, ""u8));
    }

    [Theory]
    [InlineData("a b c d e f")]
    [InlineData("maxqueue f 1 2 3 4")]
    [InlineData(" a  b  c  d  e  f ")]
    [InlineData("  a    b c  d     e   ")]
    [InlineData(" a b c d e")]
    [InlineData("a b c d e ")]
    [InlineData(" a b c d ")]
    [InlineData("1 2 3 4 5 6 7 8 9 10 11 12")]
    public void More_than_five_tokens_is_refused(string line)
    {
        Assert.False(AdminTokens.TrySplit(Bytes(line), out _));
    }

    [Fact]
    public void MaxTokens_is_five()
    {
        Assert.Equal(5, AdminTokens.MaxTokens);
    }

    [Fact]
    public void Is_compares_ignoring_ASCII_case()
    {
        var bytes = Bytes("MaxQueue Fn SHOW");
        Assert.True(AdminTokens.TrySplit(bytes, out var tokens));

        Assert.True(tokens.Is(bytes, 0, "maxqueue"u8));
        Assert.True(tokens.Is(bytes, 0, "MAXQUEUE"u8));
        Assert.True(tokens.Is(bytes, 2, "show"u8));
        Assert.False(tokens.Is(bytes, 0, "maxqueu"u8));
        Assert.False(tokens.Is(bytes, 0, "maxqueues"u8));
        Assert.False(tokens.Is(bytes, 1, "fx"u8));
        Assert.True(tokens.Is(bytes, 1, "fn"u8));
    }

    [Fact]
    public void Is_past_the_last_token_is_false()
    {
        var bytes = Bytes("show");
        Assert.True(AdminTokens.TrySplit(bytes, out var tokens));

        Assert.False(tokens.Is(bytes, 1, "jobs"u8));
        Assert.False(tokens.Is(bytes, 4, ""u8));
    }

    [Fact]
    public void Indexing_past_the_tokens_throws()
    {
        var bytes = Bytes("a b");
        Assert.True(AdminTokens.TrySplit(bytes, out var tokens));

        Assert.Throws<ArgumentOutOfRangeException>(() => tokens[2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => tokens[-1]);
    }

    [Fact]
    public void Non_ASCII_bytes_are_token_bytes()
    {
        byte[] bytes = [0xC3, 0xA9, (byte)' ', 0xFF];
        Assert.True(AdminTokens.TrySplit(bytes, out var tokens));

        Assert.Equal(2, tokens.Count);
        Assert.Equal(new byte[] { 0xC3, 0xA9 }, tokens.Slice(bytes, 0).ToArray());
        Assert.Equal(new byte[] { 0xFF }, tokens.Slice(bytes, 1).ToArray());
        Assert.False(tokens.Is(bytes, 1, "\u00FF"u8));
    }
}
