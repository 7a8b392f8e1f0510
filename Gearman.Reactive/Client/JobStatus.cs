namespace Gearman.Reactive.Client;

/// <summary>What a job server reports about a job (<c>STATUS_RES</c> or <c>STATUS_RES_UNIQUE</c>).</summary>
/// <param name="IsKnown">Whether the server holds the job: false once it has finished (or for a handle it never issued).</param>
/// <param name="IsRunning">Whether a worker is running it.</param>
/// <param name="Numerator">The last progress numerator a worker sent (0 by default).</param>
/// <param name="Denominator">The last progress denominator a worker sent (0 by default).</param>
/// <param name="ClientCount">The number of attached foreground clients; only a status query by unique ID reports it.</param>
public readonly record struct JobStatus(bool IsKnown, bool IsRunning, long Numerator, long Denominator, int? ClientCount = null);
