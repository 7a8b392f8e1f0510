using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gearman.Server.Security;

/// <summary>
/// The server certificate, its key and the client CAs, loaded from the files <see cref="ServerTlsOptions"/> names.
/// <see cref="Reload"/> swaps them in one reference write: handshakes already under way and connections already open keep
/// the set they started with; a reload that fails keeps the old set.
/// </summary>
internal sealed class ServerCertificates
{
    /// <summary>TLS 1.2 and 1.3 only.</summary>
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");
    private readonly ServerTlsOptions _options;
    private volatile Loaded _current;

    private ServerCertificates(ServerTlsOptions options, Loaded loaded)
    {
        _options = options;
        _current = loaded;
    }

    public ServerTlsOptions Options => _options;

    /// <summary>The server certificate in use.</summary>
    public X509Certificate2 Certificate => _current.Certificate;

    /// <summary>Loads the files, or throws <see cref="TlsConfigurationException"/> naming the file and the cause.</summary>
    public static ServerCertificates Load(ServerTlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ClientCertificate != ClientCertificateMode.None && options.CaFile is null)
        {
            throw new TlsConfigurationException($"--ssl-client-cert {options.ClientCertificate.ToString().ToLowerInvariant()} needs --ssl-ca-file to verify client certificates against.");
        }

        return new ServerCertificates(options, LoadFiles(options));
    }

    /// <summary>Reads the files again; on failure the old certificates stay in use and the exception says why.</summary>
    public void Reload() => _current = LoadFiles(_options);

    /// <summary>The settings for one handshake, with the certificates current now and <paramref name="verdict"/> filled in by the client check.</summary>
    public SslServerAuthenticationOptions CreateAuthenticationOptions(ClientCertificateVerdict verdict)
    {
        var loaded = _current;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = loaded.Context,
            EnabledSslProtocols = Protocols,
            ClientCertificateRequired = _options.ClientCertificate != ClientCertificateMode.None,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => verdict.Decide(loaded, _options.ClientCertificate, certificate, errors),
        };
    }

    private static Loaded LoadFiles(ServerTlsOptions options)
    {
        X509Certificate2 certificate;
        X509Certificate2Collection intermediates = [];
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(options.CertificateFile, options.KeyFile);
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(options.CertificateFile);
            foreach (var extra in all)
            {
                if (extra.Thumbprint != certificate.Thumbprint) intermediates.Add(extra);
            }
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            string key = options.KeyFile is null ? string.Empty : $" with key {options.KeyFile}";
            throw new TlsConfigurationException($"Could not load the server certificate {options.CertificateFile}{key}: {ex.Message}", ex);
        }

        if (!certificate.HasPrivateKey) throw new TlsConfigurationException($"The server certificate {options.CertificateFile} has no private key: pass --ssl-key.");
        var authorities = new X509Certificate2Collection();
        if (options.CaFile is not null)
        {
            try
            {
                authorities.ImportFromPemFile(options.CaFile);
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new TlsConfigurationException($"Could not load the CA file {options.CaFile}: {ex.Message}", ex);
            }

            if (authorities.Count == 0) throw new TlsConfigurationException($"The CA file {options.CaFile} holds no PEM certificate.");
        }

        var context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        return new Loaded(certificate, context, authorities);
    }

    /// <summary>One generation of loaded files.</summary>
    internal sealed record Loaded(X509Certificate2 Certificate, SslStreamCertificateContext Context, X509Certificate2Collection Authorities)
    {
        /// <summary>Verifies a client certificate against the CA file only (not the system store); null when it verifies.</summary>
        public string? Verify(X509Certificate2 certificate)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.ApplicationPolicy.Add(ClientAuthentication);
            if (chain.Build(certificate)) return null;
            var problems = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct();
            return $"client certificate '{certificate.Subject}' does not verify against --ssl-ca-file: {string.Join("; ", problems)}";
        }
    }
}
