namespace Gearman.Reactive.Worker;

/// <summary>What a worker connection's read loop reports to its grab loop.</summary>
internal enum WorkerEventKind
{
    /// <summary>NOOP: wake up and grab.</summary>
    Noop,

    /// <summary>NO_JOB: the grab found nothing.</summary>
    NoJob,

    /// <summary>JOB_ASSIGN, JOB_ASSIGN_UNIQ or JOB_ASSIGN_ALL.</summary>
    Job,
}

/// <summary>One report from the read loop; <see cref="Job"/> is set for <see cref="WorkerEventKind.Job"/>.</summary>
internal readonly record struct WorkerEvent(WorkerEventKind Kind, JobAssignment? Job);
