using System.ComponentModel;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Gearman.Reactive.Connections;

/// <summary>The client side of a TLS handshake with a job server, and the choice of TLS settings per server entry.</summary>
internal static class TlsConnector
{
    /// <summary>The TLS settings for <paramref name="endpoint"/>: its entry in <paramref name="perServer"/> if it has one, else <paramref name="all"/>.</summary>
    public static GearmanTlsOptions? Select(ServerEndpoint endpoint, GearmanTlsOptions? all, IReadOnlyDictionary<string, GearmanTlsOptions?>? perServer)
    {
        if (perServer is not null)
        {
            foreach (var (entry, tls) in perServer)
            {
                if (ServerEndpoint.Parse(entry) == endpoint) return tls;
            }
        }

        return all;
    }

    /// <summary>Authenticates over <paramref name="inner"/>, which the returned stream owns; closes it and throws <see cref="GearmanConnectionException"/> on failure.</summary>
    public static async Task<SslStream> AuthenticateAsync(Stream inner, ServerEndpoint endpoint, GearmanTlsOptions tls, CancellationToken cancellationToken)
    {
        string? refusal = null;
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = tls.TargetHost ?? endpoint.Host,
            EnabledSslProtocols = tls.EnabledProtocols,
            CertificateRevocationCheckMode = tls.CertificateRevocationCheckMode,
            ClientCertificates = tls.ClientCertificate is { } certificate ? [certificate] : null,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                refusal = Verify(tls, certificate as X509Certificate2, errors, tls.TargetHost ?? endpoint.Host);
                return refusal is null;
            },
        };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (tls.HandshakeTimeout != Timeout.InfiniteTimeSpan) timeout.CancelAfter(tls.HandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, timeout.Token).ConfigureAwait(false);
            return ssl;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new GearmanConnectionException($"The TLS handshake with job server {endpoint} did not finish within {tls.HandshakeTimeout.TotalMilliseconds:0} ms.");
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or Win32Exception)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            string cause = refusal ?? (ex.InnerException is { } innerError ? $"{ex.Message} ({innerError.Message})" : ex.Message);
            throw new GearmanConnectionException($"The TLS handshake with job server {endpoint} failed: {cause}", ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Null when the server certificate is acceptable, else why not.</summary>
    private static string? Verify(GearmanTlsOptions tls, X509Certificate2? certificate, SslPolicyErrors errors, string host)
    {
        if (certificate is null) return "the server sent no certificate";
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the server certificate '{certificate.Subject}' does not name '{host}'";
        }

        if (tls.CertificateAuthorities is not { } authorities)
        {
            return errors == SslPolicyErrors.None ? null : $"the server certificate '{certificate.Subject}' is not trusted by this machine ({errors})";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = tls.CertificateRevocationCheckMode;
        if (chain.Build(certificate)) return null;
        var problems = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct();
        return $"the server certificate '{certificate.Subject}' does not chain to the configured certificate authorities: {string.Join("; ", problems)}";
    }
}
