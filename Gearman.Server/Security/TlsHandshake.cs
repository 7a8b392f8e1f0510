using System.ComponentModel;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Gearman.Server.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Security;

/// <summary>
/// The server side of a TLS handshake, shared by both transports: time-limited, with the client certificate checked
/// against the CA file, and every failure logged once with its cause before the connection is closed.
/// </summary>
internal static class TlsHandshake
{
    /// <summary>
    /// Authenticates over <paramref name="inner"/> (which the returned stream then owns). Returns null when the handshake
    /// failed, timed out or the server stopped; <paramref name="inner"/> is closed then.
    /// </summary>
    public static async Task<TlsSession?> AuthenticateAsync(Stream inner, ServerCertificates certificates, string remote, ILogger logger, CancellationToken stopping)
    {
        var below = new CoalescingStream(inner);
        var ssl = new SslStream(below, leaveInnerStreamOpen: false);
        var verdict = new ClientCertificateVerdict();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(certificates.Options.HandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsServerAsync(certificates.CreateAuthenticationOptions(verdict), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            ServerLog.TlsHandshakeTimedOut(logger, remote, certificates.Options.HandshakeTimeout);
            await ssl.DisposeAsync().ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or Win32Exception or ObjectDisposedException)
        {
            ServerLog.TlsHandshakeFailed(logger, remote, verdict.Refusal ?? Describe(ex));
            await ssl.DisposeAsync().ConfigureAwait(false);
            return null;
        }

        below.Coalesce = true;
        var identity = ssl.RemoteCertificate is X509Certificate2 certificate ? PeerIdentity.FromCertificate(certificate) : null;
        ServerLog.TlsConnectionOpened(logger, remote, ssl.SslProtocol.ToString(), identity?.ToString() ?? "anonymous");
        return new TlsSession(ssl, identity);
    }

    private static string Describe(Exception ex)
    {
        string message = ex.InnerException is { } inner && inner.Message != ex.Message ? $"{ex.Message} ({inner.Message})" : ex.Message;
        return ex is AuthenticationException && message.Contains("frame", StringComparison.OrdinalIgnoreCase)
            ? $"not a TLS handshake (a plaintext client on the TLS port?): {message}"
            : message;
    }
}

/// <summary>An authenticated TLS stream and the client's verified identity (null: no client certificate).</summary>
internal sealed record TlsSession(SslStream Stream, PeerIdentity? Identity);
