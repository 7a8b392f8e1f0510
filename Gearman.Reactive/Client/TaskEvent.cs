using System.Globalization;
using System.Text;

namespace Gearman.Reactive.Client;

/// <summary>What a <see cref="TaskEvent"/> reports.</summary>
public enum TaskEventKind
{
    /// <summary>The server accepted the job (<c>JOB_CREATED</c>); <see cref="TaskEvent.Job"/> holds its handle. Always first.</summary>
    Created,

    /// <summary>The worker sent a chunk of data (<c>WORK_DATA</c>); <see cref="TaskEvent.Data"/> holds it.</summary>
    Data,

    /// <summary>The worker sent a warning (<c>WORK_WARNING</c>); <see cref="TaskEvent.Data"/> holds it.</summary>
    Warning,

    /// <summary>The worker reported progress (<c>WORK_STATUS</c>); see <see cref="TaskEvent.Numerator"/> and <see cref="TaskEvent.Denominator"/>.</summary>
    Status,

    /// <summary>The job finished (<c>WORK_COMPLETE</c>); <see cref="TaskEvent.Data"/> holds the result. Always last; OnCompleted follows.</summary>
    Completed,
}

/// <summary>
/// One event of a submitted job. A small struct, so that an event costs no allocation beyond its payload.
/// <see cref="Data"/> is the task's own copy of the bytes: it stays valid after the event has been handled.
/// </summary>
public readonly struct TaskEvent
{
    private TaskEvent(TaskEventKind kind, JobHandle job, ReadOnlyMemory<byte> data, long numerator, long denominator)
    {
        Kind = kind;
        Job = job;
        Data = data;
        Numerator = numerator;
        Denominator = denominator;
    }

    /// <summary>What this event reports.</summary>
    public TaskEventKind Kind { get; }

    /// <summary>The job the event belongs to: its server and handle.</summary>
    public JobHandle Job { get; }

    /// <summary>The payload of <see cref="TaskEventKind.Data"/>, <see cref="TaskEventKind.Warning"/> and <see cref="TaskEventKind.Completed"/> events; empty otherwise.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Work done, for <see cref="TaskEventKind.Status"/> events.</summary>
    public long Numerator { get; }

    /// <summary>Work in total, for <see cref="TaskEventKind.Status"/> events.</summary>
    public long Denominator { get; }

    /// <summary>The progress of a <see cref="TaskEventKind.Status"/> event.</summary>
    public JobProgress Progress => new(Numerator, Denominator);

    /// <summary>Creates a <see cref="TaskEventKind.Created"/> event (for tests of code that consumes task events).</summary>
    public static TaskEvent ForCreated(JobHandle job) => new(TaskEventKind.Created, job, default, 0, 0);

    /// <summary>Creates a <see cref="TaskEventKind.Data"/> event.</summary>
    public static TaskEvent ForData(JobHandle job, ReadOnlyMemory<byte> data) => new(TaskEventKind.Data, job, data, 0, 0);

    /// <summary>Creates a <see cref="TaskEventKind.Warning"/> event.</summary>
    public static TaskEvent ForWarning(JobHandle job, ReadOnlyMemory<byte> data) => new(TaskEventKind.Warning, job, data, 0, 0);

    /// <summary>Creates a <see cref="TaskEventKind.Status"/> event.</summary>
    public static TaskEvent ForStatus(JobHandle job, long numerator, long denominator) => new(TaskEventKind.Status, job, default, numerator, denominator);

    /// <summary>Creates a <see cref="TaskEventKind.Completed"/> event.</summary>
    public static TaskEvent ForCompleted(JobHandle job, ReadOnlyMemory<byte> result) => new(TaskEventKind.Completed, job, result, 0, 0);

    /// <summary>A readable form, with the payload shown as UTF-8 (for logs and test output).</summary>
    public override string ToString() => Kind switch
    {
        TaskEventKind.Created => $"Created({Job})",
        TaskEventKind.Status => string.Create(CultureInfo.InvariantCulture, $"Status({Job.Handle}, {Numerator}/{Denominator})"),
        _ => $"{Kind}({Job.Handle}, {Encoding.UTF8.GetString(Data.Span)})",
    };
}
