using System.Text;
using Gearman.Server.Scheduling;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

[Trait("Category", "Unit")]
public sealed class CNumbersTests
{
    [Theory]
    [InlineData("1234567890", 1234567890L)]
    [InlineData("  +42", 42L)]
    [InlineData("-5", -5L)]
    [InlineData("7x", 7L)]      // leading digits only (protocol.md §2.9: "7x" stored as 7)
    [InlineData("abc", 0L)]     // no digits: 0 (protocol.md §1.3: a non-numeric EPOCH runs now)
    [InlineData("", 0L)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    public void TryParseLong_reads_like_strtoll(string text, long expected)
    {
        Assert.True(CNumbers.TryParseLong(Encoding.ASCII.GetBytes(text), out long value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("9223372036854775808")]
    [InlineData("-9223372036854775809")]
    [InlineData("99999999999999999999")]
    public void TryParseLong_refuses_overflow(string text)
    {
        Assert.False(CNumbers.TryParseLong(Encoding.ASCII.GetBytes(text), out long value));
        Assert.Equal(0, value);
    }

    [Theory]
    [InlineData("12", 12)]
    [InlineData("7x", 7)]
    [InlineData("abc", 0)]
    [InlineData("-3", -3)]
    [InlineData("4294967296", int.MaxValue)]
    [InlineData("-99999999999999999999", int.MinValue)]
    [InlineData("99999999999999999999", int.MaxValue)]
    public void Atoi_reads_leading_digits_and_clamps(string text, int expected)
        => Assert.Equal(expected, CNumbers.Atoi(Encoding.ASCII.GetBytes(text)));
}
