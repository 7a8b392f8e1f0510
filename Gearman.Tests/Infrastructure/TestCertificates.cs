using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gearman.Reactive;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A throw-away certificate authority made for one test (System.Security.Cryptography; nothing is checked in), with a
/// server certificate for <c>localhost</c> / <c>127.0.0.1</c> and client certificates on demand, each also written as
/// PEM files for the server's options and for external peers (Perl, openssl).
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly TempDirectory _directory = new("tls");
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificates(string caName = "Gearman Test CA")
    {
        var request = new CertificateRequest($"CN={caName}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaFile = _directory.File("ca.pem");
        System.IO.File.WriteAllText(CaFile, Authority.ExportCertificatePem());
        (ServerCertificateFile, ServerKeyFile) = WriteServerCertificate("server");
    }

    public X509Certificate2 Authority { get; }

    public string CaFile { get; }

    public string ServerCertificateFile { get; }

    public string ServerKeyFile { get; }

    /// <summary>A path in this set's directory, for rules files and the like.</summary>
    public string File(string name) => _directory.File(name);

    /// <summary>Issues a server certificate for localhost and 127.0.0.1 and writes it as <c>name.pem</c> / <c>name.key</c>.</summary>
    public (string Certificate, string Key) WriteServerCertificate(string name, string commonName = "localhost")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return Write(name, Issue(request, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)), key);
    }

    /// <summary>A client certificate for <paramref name="commonName"/> (with its key), written as <c>name.pem</c> / <c>name.key</c>.</summary>
    public ClientCertificate CreateClient(string commonName, bool expired = false, TestCertificates? issuer = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var notBefore = expired ? DateTimeOffset.UtcNow.AddDays(-10) : DateTimeOffset.UtcNow.AddDays(-1);
        var notAfter = expired ? DateTimeOffset.UtcNow.AddDays(-2) : DateTimeOffset.UtcNow.AddDays(30);
        var certificate = (issuer ?? this).Issue(request, notBefore, notAfter);
        string name = $"client-{commonName}-{Guid.NewGuid():N}"[..40];
        var (pem, keyFile) = Write(name, certificate, key);
        return new ClientCertificate(certificate.CopyWithPrivateKey(key), pem, keyFile);
    }

    /// <summary>SDK TLS settings that trust this CA only (and send <paramref name="client"/>, if given).</summary>
    public GearmanTlsOptions SdkOptions(ClientCertificate? client = null) => new()
    {
        CertificateAuthorities = [Authority],
        ClientCertificate = client?.Certificate,
    };

    /// <summary>
    /// Raw TLS client settings that trust this CA only (and send <paramref name="client"/>, if given);
    /// <paramref name="serverCertificate"/> is told which certificate the server presented.
    /// </summary>
    public SslClientAuthenticationOptions RawOptions(ClientCertificate? client = null, Action<X509Certificate?>? serverCertificate = null) => new()
    {
        TargetHost = "localhost",
        ClientCertificates = client is null ? null : [client.Certificate],
        RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            serverCertificate?.Invoke(certificate);
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(Authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return certificate is X509Certificate2 c && chain.Build(c);
        },
    };

    public void Dispose()
    {
        _caKey.Dispose();
        _directory.Dispose();
    }

    private X509Certificate2 Issue(CertificateRequest request, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Authority, true, false));
        var serial = new byte[12];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f;
        return request.Create(Authority.SubjectName, X509SignatureGenerator.CreateForECDsa(_caKey), notBefore, notAfter, serial);
    }

    private (string Certificate, string Key) Write(string name, X509Certificate2 certificate, ECDsa key)
    {
        string pem = _directory.File(name + ".pem");
        string keyFile = _directory.File(name + ".key");
        System.IO.File.WriteAllText(pem, certificate.ExportCertificatePem());
        System.IO.File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (pem, keyFile);
    }
}

/// <summary>A client certificate with its key, and the PEM files it was written to.</summary>
internal sealed record ClientCertificate(X509Certificate2 Certificate, string CertificateFile, string KeyFile);
