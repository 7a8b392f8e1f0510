namespace Gearman.Server.Scheduling;

/// <summary>
/// An immutable copy of what the admin commands <c>status</c>, <c>prioritystatus</c>, <c>workers</c> and <c>show jobs</c>
/// show, taken on the scheduler's thread (<see cref="JobScheduler.TakeSnapshot"/> through <see cref="JobScheduler.AskAsync"/>), so monitoring reads it from
/// any thread without touching the scheduler's state. <see cref="Jobs"/> holds at most the number of jobs asked for (the
/// oldest); <see cref="JobCount"/> is how many there are.
/// </summary>
internal sealed record SchedulerSnapshot(
    DateTimeOffset TakenAt,
    IReadOnlyList<FunctionSnapshot> Functions,
    IReadOnlyList<ConnectionSnapshot> Connections,
    IReadOnlyList<JobSnapshot> Jobs,
    int JobCount,
    long JobsSubmitted,
    long JobsFinished);

/// <summary>One function: <c>status</c>'s columns with the queued jobs split by priority.</summary>
internal sealed record FunctionSnapshot(string Name, int Total, int Running, int Workers, int QueuedHigh, int QueuedNormal, int QueuedLow, int Delayed);

/// <summary>One connection as <c>workers</c> lists it: the functions it can do (empty for a client or admin).</summary>
internal sealed record ConnectionSnapshot(int Id, string Address, string ClientId, IReadOnlyList<string> Functions, int RunningJobs);

/// <summary>One job as <c>show jobs</c> lists it, with its function, priority and state.</summary>
internal sealed record JobSnapshot(string Handle, string Function, string Unique, string Priority, bool Background, bool Running, int? WorkerId, int Retries, bool Persisted, int Clients);
