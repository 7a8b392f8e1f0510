using Gearman.Reactive.Protocol;
using Microsoft.Extensions.Logging;

namespace Gearman.Reactive.Client;

/// <summary>Client log events: IDs 2200–2299 (the worker has 2000–2099, map-reduce 2100–2149; event names are public contract).</summary>
internal sealed partial class ServerSession
{
    private static partial class Log
    {
        [LoggerMessage(2200, LogLevel.Debug, "Connected to job server {Server}.", EventName = "ClientConnected")]
        public static partial void Connected(ILogger logger, string server);

        [LoggerMessage(2201, LogLevel.Warning, "Could not connect to job server {Server}: {Reason}", EventName = "ClientConnectFailed")]
        public static partial void ConnectFailed(ILogger logger, string server, string reason);

        [LoggerMessage(2202, LogLevel.Warning, "Lost the connection to job server {Server}: {Reason}", EventName = "ClientConnectionLost")]
        public static partial void ConnectionLost(ILogger logger, string server, string reason);

        [LoggerMessage(2203, LogLevel.Information, "Resubmitting a job of '{Function}' that job server {Server} had not acknowledged.", EventName = "ClientResubmitting")]
        public static partial void Resubmitting(ILogger logger, string function, string server);

        [LoggerMessage(2204, LogLevel.Warning, "Job server {Server} refused option '{Option}': {Reason}", EventName = "ClientOptionRefused")]
        public static partial void OptionRefused(ILogger logger, string server, string option, string reason);

        [LoggerMessage(2205, LogLevel.Debug, "Job server {Server} sent {Type} for a handle this connection does not follow; ignored.", EventName = "ClientUnknownHandle")]
        public static partial void UnknownHandle(ILogger logger, string server, PacketType type);

        [LoggerMessage(2206, LogLevel.Warning, "Job server {Server} sent {Type}, which answers no pending request; ignored.", EventName = "ClientUnexpectedPacket")]
        public static partial void UnexpectedPacket(ILogger logger, string server, PacketType type);

        [LoggerMessage(2207, LogLevel.Warning, "Job server {Server} sent a malformed {Type} packet ({Problem}) that matches no job; ignored.", EventName = "ClientMalformedPacket")]
        public static partial void MalformedPacket(ILogger logger, string server, PacketType type, string problem);

        [LoggerMessage(2208, LogLevel.Warning, "Job server {Server} sent ERROR {Code} ({Text}) with no request pending.", EventName = "ClientUnattributedError")]
        public static partial void UnattributedError(ILogger logger, string server, string code, string text);

        [LoggerMessage(2209, LogLevel.Warning, "Job server {Server} attached this connection twice to job {Handle}; its events will be delivered twice.", EventName = "ClientDuplicateAttachment")]
        public static partial void DuplicateAttachment(ILogger logger, string server, string handle);
    }
}
