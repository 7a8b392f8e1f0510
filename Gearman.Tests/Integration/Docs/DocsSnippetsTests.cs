using System.Text.RegularExpressions;
using Xunit;

namespace Gearman.Tests.Integration.Docs;

/// <summary>
/// Every C# snippet of README.md and docs/*.md is code that a test compiles and runs. The convention:
/// <list type="bullet">
/// <item>A test marks the code a page shows with a line <c>// docs: name</c> before it and <c>// end</c> after it, at the
/// same indentation. Names are unique in the test project; any .cs file under Gearman.Tests may hold regions.</item>
/// <item>Each <c>```csharp</c> block of a page must equal one region, after these rewrites of the region: its indentation
/// is removed; a line that ends with <c>// docs shows: text</c> is replaced by <c>text</c> (so a test can use its own
/// server address or names where the page shows <c>localhost:4730</c>); <c>output.WriteLine(</c> becomes
/// <c>Console.WriteLine(</c> (tests capture what the page prints).</item>
/// <item>A block may begin with <c>using</c> directives, which are not part of the region; the test file of the region
/// must have each of them, so a page never names a namespace that its tested code does not use.</item>
/// <item>Every region is shown on some page, so a page cannot drop an example while its test lives on.</item>
/// </list>
/// A new page or section plugs in by adding its block and a region in any test: nothing here changes.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class DocsSnippetsTests
{
    private static readonly string Root = RepositoryRoot();

    public static TheoryData<string> Pages()
    {
        var pages = new TheoryData<string>();
        foreach (string page in PagePaths()) pages.Add(Path.GetRelativePath(Root, page).Replace('\\', '/'));
        return pages;
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void Every_csharp_block_of_the_page_is_a_tested_region(string page)
    {
        var regions = Regions();
        foreach (var (line, block) in CsharpBlocks(File.ReadAllText(Path.Combine(Root, page))))
        {
            var (usings, body) = SplitUsings(block);
            var match = regions.Values.FirstOrDefault(r => r.Shown == body);
            Assert.True(match is not null, $"{page}, line {line}: this block is no test's region (// docs: name ... // end); nearest:\n{Nearest(regions.Values, body)}\n---\n{body}");
            foreach (string u in usings)
            {
                Assert.True(match!.FileUsings.Contains(u), $"{page}, line {line}: '{u}' is not used by {match.File}, which holds region '{match.Name}'");
            }
        }
    }

    [Fact]
    public void Every_region_is_shown_on_a_page()
    {
        var shown = PagePaths().SelectMany(p => CsharpBlocks(File.ReadAllText(p))).Select(b => SplitUsings(b.Block).Body).ToHashSet(StringComparer.Ordinal);
        var regions = Regions();
        Assert.NotEmpty(regions);
        foreach (var region in regions.Values)
        {
            Assert.True(shown.Contains(region.Shown), $"Region '{region.Name}' of {region.File} is on no page (README.md, docs/*.md), or differs from its block");
        }
    }

    private static IEnumerable<string> PagePaths()
        => new[] { Path.Combine(Root, "README.md") }.Concat(Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Order(StringComparer.Ordinal));

    /// <summary>The <c>```csharp</c> blocks of a page with the line each starts on.</summary>
    private static IEnumerable<(int Line, string Block)> CsharpBlocks(string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp") continue;
            int start = i + 1;
            int end = start;
            while (end < lines.Length && lines[end].Trim() != "```") end++;
            Assert.True(end < lines.Length, $"The csharp block at line {i + 1} is not closed");
            yield return (start, string.Join('\n', lines[start..end]));
            i = end;
        }
    }

    private static (string[] Usings, string Body) SplitUsings(string block)
    {
        var lines = block.Split('\n');
        int i = 0;
        var usings = new List<string>();
        while (i < lines.Length && (lines[i].StartsWith("using ", StringComparison.Ordinal) && lines[i].EndsWith(';') || lines[i].Length == 0))
        {
            if (lines[i].Length > 0) usings.Add(lines[i]);
            i++;
        }

        return ([.. usings], string.Join('\n', lines[i..]));
    }

    private static Dictionary<string, Region> Regions()
    {
        var regions = new Dictionary<string, Region>(StringComparer.Ordinal);
        foreach (string file in Directory.GetFiles(Path.Combine(Root, "Gearman.Tests"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            {
                continue;
            }

            var lines = File.ReadAllText(file).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
            var usings = lines.Where(l => l.StartsWith("using ", StringComparison.Ordinal) && l.EndsWith(';')).ToHashSet(StringComparer.Ordinal);
            string relative = Path.GetRelativePath(Root, file).Replace('\\', '/');
            for (int i = 0; i < lines.Length; i++)
            {
                var start = StartMarker().Match(lines[i]);
                if (!start.Success) continue;
                string indent = start.Groups["indent"].Value;
                string name = start.Groups["name"].Value;
                int end = Array.FindIndex(lines, i + 1, l => l == indent + "// end");
                Assert.True(end > i, $"{relative}: region '{name}' has no '// end' at its indentation");
                var shown = lines[(i + 1)..end].Select(l => Shown(l, indent));
                Assert.True(regions.TryAdd(name, new Region(name, relative, string.Join('\n', shown), usings)), $"Region '{name}' is defined twice");
                i = end;
            }
        }

        return regions;
    }

    /// <summary>One line of a region as the page shows it.</summary>
    private static string Shown(string line, string indent)
    {
        string text = line.StartsWith(indent, StringComparison.Ordinal) ? line[indent.Length..] : line.TrimStart();
        var replaced = ShowsMarker().Match(text);
        if (replaced.Success) text = replaced.Groups["lead"].Value + replaced.Groups["shown"].Value;
        return text.Replace("output.WriteLine(", "Console.WriteLine(", StringComparison.Ordinal);
    }

    /// <summary>The region whose text shares the longest prefix with <paramref name="body"/>, for the failure message.</summary>
    private static string Nearest(IEnumerable<Region> regions, string body)
    {
        var best = regions.MaxBy(r => r.Shown.Zip(body).TakeWhile(p => p.First == p.Second).Count());
        return best is null ? "(none)" : $"region '{best.Name}' of {best.File}:\n{best.Shown}";
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gearman.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException("Gearman.sln not found above the test assembly.");
    }

    [GeneratedRegex(@"^(?<indent>\s*)// docs: (?<name>\S+)\s*$")]
    private static partial Regex StartMarker();

    [GeneratedRegex(@"^(?<lead>\s*).*?// docs shows: (?<shown>.*)$")]
    private static partial Regex ShowsMarker();

    private sealed record Region(string Name, string File, string Shown, HashSet<string> FileUsings);
}
