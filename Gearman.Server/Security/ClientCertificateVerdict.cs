using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Gearman.Server.Security;

/// <summary>The client-certificate decision of one handshake, kept so that a refusal is logged with its real cause.</summary>
internal sealed class ClientCertificateVerdict
{
    /// <summary>Why the certificate was refused, or null.</summary>
    public string? Refusal { get; private set; }

    internal bool Decide(ServerCertificates.Loaded loaded, ClientCertificateMode mode, X509Certificate? certificate, SslPolicyErrors errors)
    {
        _ = errors; // judged by our own chain against the CA file, not the system store
        if (mode == ClientCertificateMode.None) return true;
        if (certificate is null)
        {
            if (mode == ClientCertificateMode.Optional) return true;
            Refusal = "no client certificate (--ssl-client-cert required)";
            return false;
        }

        var certificate2 = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        Refusal = loaded.Verify(certificate2);
        return Refusal is null;
    }
}
