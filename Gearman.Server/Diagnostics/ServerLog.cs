using Microsoft.Extensions.Logging;

namespace Gearman.Server.Diagnostics;

/// <summary>The server's log events. Event IDs: 1xx connections, 2xx scheduling, 3xx admin, 4xx persistence. Names are public contract.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(100, LogLevel.Debug, "Connection {Connection} opened", EventName = "ConnectionOpened")]
    public static partial void ConnectionOpened(ILogger logger, string connection);

    [LoggerMessage(101, LogLevel.Debug, "Connection {Connection} closed", EventName = "ConnectionClosed")]
    public static partial void ConnectionClosed(ILogger logger, string connection);

    [LoggerMessage(102, LogLevel.Warning, "Closing connection {Connection}: {Reason}", EventName = "ProtocolViolation")]
    public static partial void ProtocolViolation(ILogger logger, string connection, string reason);

    [LoggerMessage(103, LogLevel.Information, "Connection {Connection}: {Reason}", EventName = "BadRequest")]
    public static partial void BadRequest(ILogger logger, string connection, string reason);

    [LoggerMessage(104, LogLevel.Error, "Connection {Connection} failed", EventName = "ConnectionFailed")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception, string connection);

    [LoggerMessage(105, LogLevel.Warning, "Closing connection {Connection}: {Unsent} reply bytes the peer has not read exceed --max-unsent-bytes {Limit}", EventName = "UnsentLimitExceeded")]
    public static partial void UnsentLimitExceeded(ILogger logger, string connection, long unsent, long limit);

    [LoggerMessage(106, LogLevel.Error, "Accepting a connection on {EndPoint} failed", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception, string endPoint);

    [LoggerMessage(107, LogLevel.Critical, "The epoll loop {Loop} failed", EventName = "EpollLoopFailed")]
    public static partial void EpollLoopFailed(ILogger logger, Exception exception, string loop);

    [LoggerMessage(110, LogLevel.Information, "Listening on {EndPoint}", EventName = "Listening")]
    public static partial void Listening(ILogger logger, string endPoint);

    [LoggerMessage(200, LogLevel.Error, "The scheduler failed to process a {Kind} command from connection {Connection}", EventName = "CommandFailed")]
    public static partial void CommandFailed(ILogger logger, Exception exception, string kind, string connection);

    [LoggerMessage(201, LogLevel.Warning, "Dropped job {Handle} due to max retry count ({Retries})", EventName = "JobDroppedMaxRetries")]
    public static partial void JobDroppedMaxRetries(ILogger logger, string handle, int retries);

    [LoggerMessage(202, LogLevel.Information, "Job {Handle} timed out on connection {Connection}; requeued", EventName = "JobTimedOut")]
    public static partial void JobTimedOut(ILogger logger, string handle, string connection);

    [LoggerMessage(203, LogLevel.Debug, "Job {Handle} requeued after its worker left (retry {Retries})", EventName = "JobRequeued")]
    public static partial void JobRequeued(ILogger logger, string handle, int retries);

    [LoggerMessage(400, LogLevel.Error, "The job store failed: {Message}", EventName = "StoreFailed")]
    public static partial void StoreFailed(ILogger logger, Exception exception, string message);
}
