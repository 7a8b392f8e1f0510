using System.Text;
using System.Text.Json;

namespace Gearman.Server.Security;

/// <summary>
/// The access rules file (<c>--access-rules</c>, docs/security.md): per certificate identity, the functions it may
/// register and submit to and whether it may use mutating admin commands. The checks are pure functions of the rules,
/// the connection's identity and the request; the scheduler calls them and answers a denial.
/// </summary>
internal sealed class AccessRules
{
    private static readonly string[] EntryKeys = ["canDo", "submit", "admin"];
    private readonly Dictionary<string, AccessRule> _identities;

    private AccessRules(Dictionary<string, AccessRule> identities, AccessRule? fallback, AccessRule? anonymous)
    {
        _identities = identities;
        Default = fallback;
        Anonymous = anonymous;
    }

    /// <summary>How many identities the file names.</summary>
    public int Count => _identities.Count;

    /// <summary>The rule for a certificate the file does not name (null: such a certificate may do nothing).</summary>
    public AccessRule? Default { get; }

    /// <summary>The rule for a connection without a client certificate (null: it may do nothing).</summary>
    public AccessRule? Anonymous { get; }

    /// <summary>Reads the file; a file that cannot be used throws <see cref="TlsConfigurationException"/> saying where and why.</summary>
    public static AccessRules Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsConfigurationException($"Could not read the access rules file {path}: {ex.Message}", ex);
        }

        return Parse(text, path);
    }

    /// <summary>Parses rules; <paramref name="source"/> names them in errors.</summary>
    public static AccessRules Parse(string json, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Invalid(source, "the top level must be an object");
            var identities = new Dictionary<string, AccessRule>(StringComparer.OrdinalIgnoreCase);
            AccessRule? fallback = null, anonymous = null;
            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "identities":
                        if (property.Value.ValueKind != JsonValueKind.Object) throw Invalid(source, "\"identities\" must be an object of identity names");
                        foreach (var identity in property.Value.EnumerateObject())
                        {
                            if (identity.Name.Length == 0) throw Invalid(source, "an identity name is empty");
                            if (!identities.TryAdd(identity.Name, ParseEntry(identity.Name, identity.Value, source)))
                            {
                                throw Invalid(source, $"identity \"{identity.Name}\" is listed twice");
                            }
                        }

                        break;
                    case "default":
                        fallback = ParseEntry("default", property.Value, source);
                        break;
                    case "anonymous":
                        anonymous = ParseEntry("anonymous", property.Value, source);
                        break;
                    default:
                        throw Invalid(source, $"unknown key \"{property.Name}\" (expected identities, default, anonymous)");
                }
            }

            return new AccessRules(identities, fallback, anonymous);
        }
        catch (JsonException ex)
        {
            throw Invalid(source, $"not valid JSON at line {ex.LineNumber + 1}: {ex.Message}");
        }
    }

    /// <summary>Admin commands that change server state; a rule without <c>admin</c> gets <c>ERR PERMISSION_DENIED</c> for them.</summary>
    public static bool IsMutatingAdminCommand(ReadOnlySpan<byte> command)
        => Ascii.EqualsIgnoreCase(command, "cancel"u8) || Ascii.EqualsIgnoreCase(command, "drop"u8) || Ascii.EqualsIgnoreCase(command, "create"u8)
            || Ascii.EqualsIgnoreCase(command, "maxqueue"u8) || Ascii.EqualsIgnoreCase(command, "shutdown"u8);

    /// <summary>The rule that applies to <paramref name="identity"/>: the entry of its first listed name, else <see cref="Default"/>; no certificate: <see cref="Anonymous"/>.</summary>
    public AccessRule For(PeerIdentity? identity)
    {
        if (identity is null) return Anonymous ?? AccessRule.Nothing;
        foreach (var name in identity.Names)
        {
            if (_identities.TryGetValue(name, out var rule)) return rule;
        }

        return Default ?? AccessRule.Nothing;
    }

    public bool MayRegister(PeerIdentity? identity, ReadOnlySpan<byte> function) => For(identity).CanDo.Matches(function);

    public bool MaySubmit(PeerIdentity? identity, ReadOnlySpan<byte> function) => For(identity).Submit.Matches(function);

    public bool MayAdminister(PeerIdentity? identity) => For(identity).Admin;

    private static AccessRule ParseEntry(string name, JsonElement entry, string source)
    {
        if (entry.ValueKind != JsonValueKind.Object) throw Invalid(source, $"the entry \"{name}\" must be an object");
        FunctionPatterns canDo = FunctionPatterns.None, submit = FunctionPatterns.None;
        bool admin = false;
        foreach (var property in entry.EnumerateObject())
        {
            switch (property.Name)
            {
                case "canDo":
                    canDo = new FunctionPatterns(Strings(name, property, source));
                    break;
                case "submit":
                    submit = new FunctionPatterns(Strings(name, property, source));
                    break;
                case "admin":
                    if (property.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Invalid(source, $"\"{name}\".admin must be true or false");
                    admin = property.Value.GetBoolean();
                    break;
                default:
                    throw Invalid(source, $"unknown key \"{property.Name}\" in \"{name}\" (expected {string.Join(", ", EntryKeys)})");
            }
        }

        return new AccessRule(name, canDo, submit, admin);
    }

    private static List<string> Strings(string name, JsonProperty property, string source)
    {
        if (property.Value.ValueKind != JsonValueKind.Array) throw Invalid(source, $"\"{name}\".{property.Name} must be an array of function names");
        var list = new List<string>();
        foreach (var item in property.Value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString() is not { Length: > 0 } value)
            {
                throw Invalid(source, $"\"{name}\".{property.Name} must hold non-empty strings");
            }

            list.Add(value);
        }

        return list;
    }

    private static TlsConfigurationException Invalid(string source, string problem) => new($"Invalid access rules file {source}: {problem}.");
}
