using Microsoft.Extensions.Logging;

namespace Gearman.Server.Diagnostics;

/// <summary>TLS and access-control events (7xx).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(700, LogLevel.Warning, "TLS handshake with {Remote} failed: {Reason}", EventName = "TlsHandshakeFailed")]
    public static partial void TlsHandshakeFailed(ILogger logger, string remote, string reason);

    [LoggerMessage(701, LogLevel.Warning, "TLS handshake with {Remote} did not finish within {Timeout}; closed", EventName = "TlsHandshakeTimedOut")]
    public static partial void TlsHandshakeTimedOut(ILogger logger, string remote, TimeSpan timeout);

    [LoggerMessage(702, LogLevel.Information, "TLS certificate loaded: {Subject}, valid until {NotAfter:u}", EventName = "TlsCertificateLoaded")]
    public static partial void TlsCertificateLoaded(ILogger logger, string subject, DateTime notAfter);

    [LoggerMessage(703, LogLevel.Error, "Reloading the TLS certificates failed; the ones in use stay: {Reason}", EventName = "TlsReloadFailed")]
    public static partial void TlsReloadFailed(ILogger logger, string reason);

    [LoggerMessage(704, LogLevel.Warning, "Denied {Identity} on connection {Connection}: {What}", EventName = "AccessDenied")]
    public static partial void AccessDenied(ILogger logger, string identity, string connection, string what);

    [LoggerMessage(705, LogLevel.Information, "Access rules loaded from {File}: {Count} identities", EventName = "AccessRulesLoaded")]
    public static partial void AccessRulesLoaded(ILogger logger, string file, int count);

    [LoggerMessage(706, LogLevel.Error, "Reloading the access rules failed; the ones in use stay: {Reason}", EventName = "AccessRulesReloadFailed")]
    public static partial void AccessRulesReloadFailed(ILogger logger, string reason);

    [LoggerMessage(708, LogLevel.Warning, "Changes in {Directory} are not watched ({Reason}); send SIGHUP to reload", EventName = "TlsWatchFailed")]
    public static partial void TlsWatchFailed(ILogger logger, string directory, string reason);

    [LoggerMessage(709, LogLevel.Warning, "SIGHUP was ignored when the server started (nohup?); it is set back so that SIGHUP reloads the certificates and access rules", EventName = "HangUpUnignored")]
    public static partial void HangUpUnignored(ILogger logger);

    [LoggerMessage(707, LogLevel.Debug, "TLS connection from {Remote}: {Protocol}, client {Identity}", EventName = "TlsConnectionOpened")]
    public static partial void TlsConnectionOpened(ILogger logger, string remote, string protocol, string identity);
}
