using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gearman.Server.Security;
using Xunit;

namespace Gearman.Tests.Unit.Security;

/// <summary>The access rules file: parsing, errors, and the pure checks the scheduler calls.</summary>
[Trait("Category", "Unit")]
public sealed class AccessRulesTests
{
    private static readonly AccessRules Rules = AccessRules.Parse(
        """
        {
          "identities": {
            "worker.example": { "canDo": ["resize", "thumb_*"] },
            "app.example": { "submit": ["resize"] },
            "ops.example": { "admin": true }
          },
          "default": { "submit": ["public_*"] },
          "anonymous": { "submit": ["status_only"] }
        }
        """,
        "test");

    [Fact]
    public void Exact_names_and_prefix_patterns_grant_only_what_they_name()
    {
        var worker = Identity("worker.example");
        Assert.True(Rules.MayRegister(worker, "resize"u8));
        Assert.True(Rules.MayRegister(worker, "thumb_small"u8));
        Assert.True(Rules.MayRegister(worker, "thumb_"u8));
        Assert.False(Rules.MayRegister(worker, "resizer"u8));
        Assert.False(Rules.MayRegister(worker, "thumb"u8));
        Assert.False(Rules.MaySubmit(worker, "resize"u8));
        Assert.False(Rules.MayAdminister(worker));
    }

    [Fact]
    public void Unknown_identities_get_the_default_rule_and_certificate_less_connections_the_anonymous_one()
    {
        Assert.True(Rules.MaySubmit(Identity("stranger"), "public_feed"u8));
        Assert.False(Rules.MaySubmit(Identity("stranger"), "resize"u8));
        Assert.True(Rules.MaySubmit(null, "status_only"u8));
        Assert.False(Rules.MaySubmit(null, "public_feed"u8));
        Assert.Equal("default", Rules.For(Identity("stranger")).Name);
        Assert.Equal("anonymous", Rules.For(null).Name);
    }

    [Fact]
    public void Without_default_and_anonymous_entries_unnamed_peers_may_do_nothing()
    {
        var rules = AccessRules.Parse("""{ "identities": { "a": { "submit": ["*"], "canDo": ["*"], "admin": true } } }""", "test");
        Assert.True(rules.MaySubmit(Identity("a"), "anything"u8));
        Assert.False(rules.MaySubmit(Identity("b"), "anything"u8));
        Assert.False(rules.MayRegister(null, "anything"u8));
        Assert.False(rules.MayAdminister(null));
    }

    [Fact]
    public void A_certificate_matches_by_common_name_or_by_subject_alternative_name()
    {
        using var key = ECDsa.Create();
        var request = new CertificateRequest("CN=some-host-7", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("ops.example");
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        var identity = PeerIdentity.FromCertificate(certificate);
        Assert.Equal(["some-host-7", "ops.example"], identity.Names);
        Assert.True(Rules.MayAdminister(identity));
        Assert.Equal("ops.example", Rules.For(identity).Name);
    }

    [Theory]
    [InlineData("""{ "identities": { "a": { "candos": [] } } }""", "unknown key \"candos\" in \"a\"")]
    [InlineData("""{ "identity": {} }""", "unknown key \"identity\"")]
    [InlineData("""{ "identities": { "a": { "submit": "x" } } }""", "\"a\".submit must be an array")]
    [InlineData("""{ "identities": { "a": { "submit": [""] } } }""", "must hold non-empty strings")]
    [InlineData("""{ "identities": { "a": { "admin": "yes" } } }""", "\"a\".admin must be true or false")]
    [InlineData("""{ "identities": { "a": {}, "A": {} } }""", "listed twice")]
    [InlineData("""[1]""", "the top level must be an object")]
    [InlineData("""{ "identities": { """, "not valid JSON")]
    public void A_file_that_cannot_be_used_is_refused_with_the_reason(string json, string reason)
    {
        var error = Assert.Throws<TlsConfigurationException>(() => AccessRules.Parse(json, "rules.json"));
        Assert.Contains("rules.json", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cancel", true)]
    [InlineData("DROP", true)]
    [InlineData("create", true)]
    [InlineData("maxqueue", true)]
    [InlineData("shutdown", true)]
    [InlineData("status", false)]
    [InlineData("workers", false)]
    [InlineData("show", false)]
    [InlineData("version", false)]
    public void Only_commands_that_change_server_state_are_mutating(string command, bool mutating)
        => Assert.Equal(mutating, AccessRules.IsMutatingAdminCommand(System.Text.Encoding.ASCII.GetBytes(command)));

    private static PeerIdentity Identity(string name) => new($"CN={name}", [name]);
}
