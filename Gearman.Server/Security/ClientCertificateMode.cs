namespace Gearman.Server.Security;

/// <summary><c>--ssl-client-cert</c>: whether TLS clients are asked for a certificate, verified against <c>--ssl-ca-file</c>.</summary>
internal enum ClientCertificateMode
{
    /// <summary>No certificate is requested; every TLS connection is anonymous.</summary>
    None,

    /// <summary>A certificate is requested; one that is sent must verify, a connection without one is anonymous.</summary>
    Optional,

    /// <summary>A certificate that verifies is required; the handshake fails without one.</summary>
    Required,
}
