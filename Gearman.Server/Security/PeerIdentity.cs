using System.Security.Cryptography.X509Certificates;

namespace Gearman.Server.Security;

/// <summary>
/// Who a verified client certificate names: its subject's common name, then its subject alternative names (DNS names,
/// IP addresses, e-mail and URI names). Access rules match any of them, in this order.
/// </summary>
internal sealed class PeerIdentity
{
    public PeerIdentity(string subject, IReadOnlyList<string> names)
    {
        Subject = subject;
        Names = names;
    }

    /// <summary>The certificate's full subject, for logs.</summary>
    public string Subject { get; }

    /// <summary>The names rules are matched against (never empty for a certificate with a subject).</summary>
    public IReadOnlyList<string> Names { get; }

    public static PeerIdentity FromCertificate(X509Certificate2 certificate)
    {
        var names = new List<string>();
        Add(names, certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                foreach (var dns in san.EnumerateDnsNames()) Add(names, dns);
                foreach (var ip in san.EnumerateIPAddresses()) Add(names, ip.ToString());
            }
        }

        Add(names, certificate.GetNameInfo(X509NameType.EmailName, forIssuer: false));
        Add(names, certificate.GetNameInfo(X509NameType.UrlName, forIssuer: false));
        return new PeerIdentity(certificate.Subject, names);
    }

    /// <summary>The first name (the common name, usually), or the subject.</summary>
    public override string ToString() => Names.Count > 0 ? Names[0] : Subject;

    private static void Add(List<string> names, string? name)
    {
        if (!string.IsNullOrEmpty(name) && !names.Contains(name, StringComparer.OrdinalIgnoreCase)) names.Add(name);
    }
}
