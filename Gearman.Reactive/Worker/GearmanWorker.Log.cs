using Gearman.Reactive.Connections;
using Microsoft.Extensions.Logging;

namespace Gearman.Reactive.Worker;

/// <content>
/// Logging: event IDs 2000–2099 belong to the worker (the client has 2200–2299, map-reduce 2100–2149); the event names
/// are public contract. Reconnect warnings carry the reason as text, not the exception: they repeat on every attempt.
/// </content>
public sealed partial class GearmanWorker
{
    internal static partial class Log
    {
        [LoggerMessage(2000, LogLevel.Information, "Gearman worker started: {FunctionCount} function(s) on {ServerCount} job server(s)", EventName = "WorkerStarted")]
        public static partial void Started(ILogger logger, int functionCount, int serverCount);

        [LoggerMessage(2001, LogLevel.Debug, "Grabbing jobs of {Functions} with capacity {Capacity} from {ServerCount} job server(s)", EventName = "RegistrationStarted")]
        public static partial void LaneStarted(ILogger logger, string functions, int capacity, int serverCount);

        [LoggerMessage(2002, LogLevel.Debug, "Connected to job server {Server} for {Functions}", EventName = "Connected")]
        public static partial void Connected(ILogger logger, ServerEndpoint server, string functions);

        [LoggerMessage(2003, LogLevel.Warning, "Could not connect to job server {Server} ({Reason}); retrying in about {Delay}", EventName = "ConnectFailed")]
        public static partial void ConnectFailed(ILogger logger, ServerEndpoint server, string reason, TimeSpan delay);

        [LoggerMessage(2004, LogLevel.Warning, "Lost the connection to job server {Server} ({Reason}); {JobCount} job(s) running on it go back to the server; reconnecting", EventName = "ConnectionLost")]
        public static partial void ConnectionLost(ILogger logger, ServerEndpoint server, string reason, int jobCount);

        [LoggerMessage(2005, LogLevel.Debug, "Job {Handle} of {Function} assigned by {Server}", EventName = "JobAssigned")]
        public static partial void JobReceived(ILogger logger, string handle, string function, ServerEndpoint server);

        [LoggerMessage(2006, LogLevel.Error, "The session with job server {Server} failed; reconnecting", EventName = "SessionFailed")]
        public static partial void SessionFailed(ILogger logger, ServerEndpoint server, Exception exception);

        [LoggerMessage(2007, LogLevel.Debug, "Job server {Server} sent an unexpected {PacketType} packet; ignored", EventName = "UnexpectedPacket")]
        public static partial void UnexpectedPacket(ILogger logger, ServerEndpoint server, string packetType);

        [LoggerMessage(2008, LogLevel.Warning, "Job server {Server} answered {Code}: {Text}", EventName = "ServerError")]
        public static partial void ServerError(ILogger logger, ServerEndpoint server, string code, string text);

        [LoggerMessage(2010, LogLevel.Warning, "The handler of {Function} failed job {Handle}", EventName = "HandlerFailed")]
        public static partial void HandlerFailed(ILogger logger, string handle, string function, Exception exception);

        [LoggerMessage(2011, LogLevel.Warning, "Job {Handle} of {Function} exceeded its timeout of {Timeout}: its cancellation token fired and the server gives it to another worker", EventName = "JobTimedOut")]
        public static partial void JobTimedOut(ILogger logger, string handle, string function, TimeSpan timeout);

        [LoggerMessage(2012, LogLevel.Error, "Job server {Server} assigned job {Handle} of {Function}, which is not registered here; failing it", EventName = "UnknownFunction")]
        public static partial void UnknownFunction(ILogger logger, ServerEndpoint server, string handle, string function);

        [LoggerMessage(2013, LogLevel.Error, "The block for {Function} declined job {Handle}; failing it", EventName = "JobDeclined")]
        public static partial void JobDeclined(ILogger logger, string handle, string function);

        [LoggerMessage(2014, LogLevel.Warning, "The job block for {Functions} completed before the worker stopped; no more jobs are grabbed for it", EventName = "BlockCompleted")]
        public static partial void TargetCompleted(ILogger logger, string functions, Exception? exception);

        [LoggerMessage(2015, LogLevel.Warning, "The handler of {Function} asked for job {Handle} to run again: closing the connection to {Server}, which requeues the jobs it holds; reconnecting", EventName = "JobRetried")]
        public static partial void JobRetried(ILogger logger, string handle, string function, ServerEndpoint server, Exception exception);

        [LoggerMessage(2016, LogLevel.Error, "Job server {Server} assigned job {Handle} of {Function} in a packet of {Size} bytes, over MaxPacketSize ({Limit} bytes): discarded unread and failed; the connection stays open", EventName = "JobTooLarge")]
        public static partial void JobTooLarge(ILogger logger, ServerEndpoint server, string handle, string function, long size, long limit);

        [LoggerMessage(2020, LogLevel.Information, "Gearman worker stopping: no more grabs; waiting up to {Timeout} for {JobCount} job(s) in flight", EventName = "WorkerStopping")]
        public static partial void Stopping(ILogger logger, int jobCount, TimeSpan timeout);

        [LoggerMessage(2021, LogLevel.Warning, "{JobCount} job(s) still running when the shutdown timeout expired: their tokens fired and their servers give them to other workers", EventName = "StopTimedOut")]
        public static partial void StopTimedOut(ILogger logger, int jobCount);

        [LoggerMessage(2022, LogLevel.Information, "Gearman worker stopped", EventName = "WorkerStopped")]
        public static partial void Stopped(ILogger logger);
    }
}
