using Gearman.Server.Scheduling;

namespace Gearman.Server.Persistence;

/// <summary>
/// The outcome of saving some new background jobs, posted back to the scheduler loop (one per store transaction).
/// Either all of <see cref="Jobs"/> are durable (<see cref="Error"/> is null) or none may be counted on.
/// </summary>
internal sealed class StoreAcknowledgement
{
    public StoreAcknowledgement(Job[] jobs, string? error)
    {
        Jobs = jobs;
        Error = error;
    }

    /// <summary>The jobs whose adds were in the transaction, in submit order.</summary>
    public Job[] Jobs { get; }

    /// <summary>Why the jobs could not be saved, or null when they are durable.</summary>
    public string? Error { get; }

    /// <summary>
    /// Not null (and <see cref="Jobs"/> empty) when the store, unavailable when the server started, is back: the stored
    /// jobs to replay. Until it arrives the scheduler refuses background submits.
    /// </summary>
    public IReadOnlyList<JobRecord>? Replay { get; private init; }

    public static StoreAcknowledgement ForReplay(IReadOnlyList<JobRecord> records) => new([], null) { Replay = records };
}
