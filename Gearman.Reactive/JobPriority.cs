namespace Gearman.Reactive;

/// <summary>The queue a job waits in on the job server: high before normal before low (protocol.md §2.5).</summary>
/// <remarks>
/// The values are gearmand's numbering, which this project's server also uses for its queues and its durable store:
/// they are persisted, so they never change.
/// </remarks>
public enum JobPriority
{
    /// <summary>Served before normal and low jobs (<c>SUBMIT_JOB_HIGH</c>, <c>SUBMIT_JOB_HIGH_BG</c>).</summary>
    High = 0,

    /// <summary>The default (<c>SUBMIT_JOB</c>, <c>SUBMIT_JOB_BG</c>); epoch and reduce jobs are always normal.</summary>
    Normal = 1,

    /// <summary>Served after high and normal jobs (<c>SUBMIT_JOB_LOW</c>, <c>SUBMIT_JOB_LOW_BG</c>).</summary>
    Low = 2,
}
