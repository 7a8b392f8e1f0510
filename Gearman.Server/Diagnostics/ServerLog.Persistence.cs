using Microsoft.Extensions.Logging;

namespace Gearman.Server.Diagnostics;

/// <summary>Persistence events (4xx).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(401, LogLevel.Warning, "The job store {Store} is available again ({Deletes} deletes to catch up)", EventName = "StoreReconnected")]
    public static partial void StoreReconnected(ILogger logger, string store, int deletes);

    [LoggerMessage(402, LogLevel.Debug, "Reconnecting to the job store failed: {Message}; next attempt in {Delay}", EventName = "StoreReconnectFailed")]
    public static partial void StoreReconnectFailed(ILogger logger, string message, TimeSpan delay);

    [LoggerMessage(403, LogLevel.Information, "Replayed {Count} background jobs from {Store} ({Coalesced} coalesced into others and deleted)", EventName = "JobsReplayed")]
    public static partial void JobsReplayed(ILogger logger, int count, string store, int coalesced);

    [LoggerMessage(404, LogLevel.Error, "Stopped with {Count} deletes and {Retries} retry counts not applied to the job store: those jobs run again after a restart", EventName = "StoreDeletesLost")]
    public static partial void StoreDeletesLost(ILogger logger, int count, int retries);

    [LoggerMessage(405, LogLevel.Information, "Background jobs are stored in {Store}", EventName = "StoreOpened")]
    public static partial void StoreOpened(ILogger logger, string store);

    [LoggerMessage(406, LogLevel.Error, "The job store {Store} is unavailable at start-up: {Message}. Serving foreground jobs; background submits get ERROR QUEUE_ERROR until it is back (retrying), then the stored jobs are replayed", EventName = "StoreUnavailableAtStart")]
    public static partial void StoreUnavailableAtStart(ILogger logger, string store, string message);

    [LoggerMessage(407, LogLevel.Error, "A stored job (row {Id}) cannot be loaded from {Store}: {Reason}. It was moved to the table {Quarantine}; the other jobs replay", EventName = "StoredJobQuarantined")]
    public static partial void StoredJobQuarantined(ILogger logger, long id, string store, string reason, string quarantine);

    [LoggerMessage(408, LogLevel.Error, "A stored job (row {Id}) could not be replayed and was skipped", EventName = "StoredJobSkipped")]
    public static partial void StoredJobSkipped(ILogger logger, Exception exception, long id);
}
