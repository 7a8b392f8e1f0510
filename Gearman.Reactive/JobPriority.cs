namespace Gearman.Reactive;

/// <summary>The queue a job waits in on the job server: high before normal before low (protocol.md §2.5).</summary>
public enum JobPriority
{
    /// <summary>Served before normal and low jobs (<c>SUBMIT_JOB_HIGH</c>, <c>SUBMIT_JOB_HIGH_BG</c>).</summary>
    High,

    /// <summary>The default (<c>SUBMIT_JOB</c>, <c>SUBMIT_JOB_BG</c>); epoch and reduce jobs are always normal.</summary>
    Normal,

    /// <summary>Served after high and normal jobs (<c>SUBMIT_JOB_LOW</c>, <c>SUBMIT_JOB_LOW_BG</c>).</summary>
    Low,
}
