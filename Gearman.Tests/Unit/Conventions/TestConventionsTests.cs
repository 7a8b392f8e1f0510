using System.Reflection;
using Xunit;

namespace Gearman.Tests.Unit.Conventions;

/// <summary>
/// The suite's filters work only if every test class says where it belongs: <c>dotnet test --filter Category=Unit</c>
/// (or Integration, Conformance, Interop) must select exactly the tests of that folder.
/// </summary>
[Trait("Category", "Unit")]
public sealed class TestConventionsTests
{
    [Fact]
    public void Every_test_class_has_the_category_trait_of_its_folder()
    {
        var testClasses = typeof(TestConventionsTests).Assembly.GetTypes()
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttributes<FactAttribute>(inherit: true).Any()))
            .ToList();
        Assert.NotEmpty(testClasses);
        foreach (var type in testClasses)
        {
            string folder = type.Namespace!.Split('.')[2]; // Gearman.Tests.<Folder>...
            var categories = type.GetCustomAttributes<TraitAttribute>().Where(t => t.Name == "Category").Select(t => t.Value).ToList();
            Assert.True(categories.SequenceEqual([folder]), $"{type.FullName} has Category traits [{string.Join(", ", categories)}]; it needs [Trait(\"Category\", \"{folder}\")]");
        }
    }
}
