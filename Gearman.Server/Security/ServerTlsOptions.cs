namespace Gearman.Server.Security;

/// <summary>The server's TLS settings (<c>--ssl</c> and the options after it; docs/security.md).</summary>
internal sealed record ServerTlsOptions
{
    /// <summary>The handshake time limit unless <see cref="HandshakeTimeout"/> says otherwise.</summary>
    public static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary><c>--ssl-certificate</c>: the server's certificate (PEM), optionally followed by its intermediates.</summary>
    public required string CertificateFile { get; init; }

    /// <summary><c>--ssl-key</c>: its private key (PEM); null reads the key from <see cref="CertificateFile"/>.</summary>
    public string? KeyFile { get; init; }

    /// <summary><c>--ssl-ca-file</c>: the certificate authorities (PEM) that client certificates must chain to.</summary>
    public string? CaFile { get; init; }

    /// <summary><c>--ssl-client-cert</c>.</summary>
    public ClientCertificateMode ClientCertificate { get; init; } = ClientCertificateMode.None;

    /// <summary><c>--ssl-handshake-timeout</c>: a connection that has not finished its handshake by then is closed.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = DefaultHandshakeTimeout;

    /// <summary><c>--plain-port</c>: an extra plaintext listener (null: TLS only).</summary>
    public int? PlaintextPort { get; init; }

    /// <summary><c>--plain-listen</c>: the plaintext listener's address; loopback unless stated.</summary>
    public string PlaintextListenAddress { get; init; } = "127.0.0.1";
}
