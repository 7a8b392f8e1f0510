namespace Gearman.Server.Security;

/// <summary>The access rules in force, read from <c>--access-rules</c>; <see cref="Reload"/> swaps in a new file's rules, or keeps the old ones.</summary>
internal sealed class AccessControl
{
    private volatile AccessRules _rules;

    public AccessControl(string path, AccessRules rules)
    {
        Path = path;
        _rules = rules;
    }

    public string Path { get; }

    /// <summary>The rules in force (read by the scheduler thread; replaced whole by a reload).</summary>
    public AccessRules Rules => _rules;

    public static AccessControl Load(string path) => new(path, AccessRules.Load(path));

    /// <summary>Reads the file again; throws <see cref="TlsConfigurationException"/> (keeping the rules in force) if it is unusable.</summary>
    public void Reload() => _rules = AccessRules.Load(Path);
}
