using Gearman.Reactive.Protocol;
using Xunit;

namespace Gearman.Tests.Unit.Protocol;

[Trait("Category", "Unit")]
public sealed class PacketLayoutTests
{
    public static TheoryData<int> DefinedTypes => new(Enumerable.Range(1, 42));

    [Theory]
    [MemberData(nameof(DefinedTypes))]
    public void Layout_matches_the_spec_catalogue(int type)
    {
        var layout = PacketLayout.Of((PacketType)type);

        Assert.True(PacketLayout.IsDefined((PacketType)type));
        Assert.Equal(SpecCatalogue.FieldCount(type), layout.Fields);
        Assert.Equal(SpecCatalogue.HasData(type), layout.HasData);
        Assert.InRange(layout.Fields, 0, PacketLayout.MaxFields);
    }

    [Fact]
    public void Every_defined_type_has_a_name_and_a_distinct_number()
    {
        var values = Enum.GetValues<PacketType>().Where(PacketLayout.IsDefined).Select(t => (int)t).Order().ToArray();
        Assert.Equal(Enumerable.Range(1, 42), values);
    }

    [Fact]
    public void MaxFields_is_the_largest_layout()
    {
        Assert.Equal(PacketLayout.MaxFields, Enumerable.Range(1, 42).Max(t => PacketLayout.Of((PacketType)t).Fields));
        Assert.Equal(8, PacketLayout.Of(PacketType.SubmitJobSched).Fields);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(43u)]
    [InlineData(44u)]
    [InlineData(1000u)]
    [InlineData(0x80000001u)]
    [InlineData(uint.MaxValue)]
    public void Undefined_types_have_no_fields(uint type)
    {
        Assert.False(PacketLayout.IsDefined((PacketType)type));
        Assert.Equal(default, PacketLayout.Of((PacketType)type));
    }

    [Theory]
    [InlineData(37)]
    [InlineData(38)]
    public void Reduce_submits_carry_the_aggregator_field_that_PROTOCOL_omits(int type)
    {
        // Spec §1.2 note: four NUL-terminated fields before DATA, not three.
        Assert.Equal(new PacketLayout(5, true), PacketLayout.Of((PacketType)type));
    }
}
