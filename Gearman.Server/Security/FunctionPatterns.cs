using System.Text;

namespace Gearman.Server.Security;

/// <summary>
/// Function names a rule grants: exact names, <c>prefix*</c> patterns, or <c>*</c> for every function. Matching compares
/// UTF-8 bytes and allocates nothing.
/// </summary>
internal sealed class FunctionPatterns
{
    private readonly byte[][] _exact;
    private readonly byte[][] _prefixes;
    private readonly bool _any;

    public FunctionPatterns(IEnumerable<string> patterns)
    {
        var exact = new List<byte[]>();
        var prefixes = new List<byte[]>();
        foreach (var pattern in patterns)
        {
            if (pattern == "*") _any = true;
            else if (pattern.EndsWith('*')) prefixes.Add(Encoding.UTF8.GetBytes(pattern[..^1]));
            else exact.Add(Encoding.UTF8.GetBytes(pattern));
        }

        _exact = [.. exact];
        _prefixes = [.. prefixes];
    }

    /// <summary>Grants nothing.</summary>
    public static FunctionPatterns None { get; } = new([]);

    public bool Matches(ReadOnlySpan<byte> function)
    {
        if (_any) return true;
        foreach (var name in _exact)
        {
            if (function.SequenceEqual(name)) return true;
        }

        foreach (var prefix in _prefixes)
        {
            if (function.StartsWith(prefix)) return true;
        }

        return false;
    }
}
