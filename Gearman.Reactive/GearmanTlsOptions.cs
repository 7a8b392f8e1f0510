using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Gearman.Reactive;

/// <summary>
/// TLS to a job server, for clients and workers (<c>Tls</c> on their options for every server, <c>ServerTls</c> per
/// server entry). Every connection, and every reconnection, makes a full handshake; one that fails or does not finish
/// within <see cref="HandshakeTimeout"/> fails the connection with a <see cref="GearmanConnectionException"/> that names the cause.
/// </summary>
public sealed record GearmanTlsOptions
{
    /// <summary>TLS with the defaults: the system's trusted roots, the server entry's host name, no client certificate.</summary>
    public static GearmanTlsOptions Default { get; } = new();

    /// <summary>The name the server certificate must carry; null (the default) uses the host of the server entry.</summary>
    public string? TargetHost { get; init; }

    /// <summary>
    /// The certificate authorities the server certificate must chain to, instead of the system's trusted roots (for a
    /// private CA). Null (the default) uses the system store.
    /// </summary>
    public X509Certificate2Collection? CertificateAuthorities { get; init; }

    /// <summary>The client certificate, with its private key, for servers that ask for one; null (the default) sends none.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>Whether the server certificate's revocation is checked; default <see cref="X509RevocationMode.NoCheck"/> (private CAs seldom publish revocation lists).</summary>
    public X509RevocationMode CertificateRevocationCheckMode { get; init; } = X509RevocationMode.NoCheck;

    /// <summary>The protocol versions offered; default TLS 1.2 and 1.3.</summary>
    public SslProtocols EnabledProtocols { get; init; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>How long the handshake may take; default 10 seconds.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
