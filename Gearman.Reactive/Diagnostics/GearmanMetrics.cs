using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Gearman.Reactive.Connections;

namespace Gearman.Reactive.Diagnostics;

/// <summary>
/// The SDK's <see cref="System.Diagnostics.Metrics"/> instruments, on one static meter named <see cref="MeterName"/>
/// (watch them with <c>dotnet-counters monitor -n app --counters Gearman.Reactive</c>, or add the meter to
/// OpenTelemetry with <c>AddMeter("Gearman.Reactive")</c>). Names and tags are public contract (docs/client.md,
/// docs/worker.md). Recorded once per task, job or connection, never per event or packet; while no listener has
/// enabled an instrument, recording is one field check and builds nothing.
/// </summary>
internal static class GearmanMetrics
{
    public const string MeterName = "Gearman.Reactive";

    /// <summary>The tag naming the function of a task or job.</summary>
    public const string FunctionTag = "gearman.function";

    /// <summary>The tag saying how a client task ended.</summary>
    public const string TaskOutcomeTag = "gearman.task.outcome";

    /// <summary>The tag saying how a worker job ended (as the server's <c>gearman.job.outcome</c>).</summary>
    public const string JobOutcomeTag = "gearman.job.outcome";

    private static readonly Meter Meter = new(MeterName, typeof(GearmanMetrics).Assembly.GetName().Version?.ToString());

    private static readonly Counter<long> TasksSubmitted = Meter.CreateCounter<long>(
        "gearman.client.tasks.submitted", "{task}", "Tasks the client started: Submit subscriptions, ExecuteAsync and SubmitBackgroundAsync calls.");

    private static readonly Counter<long> TasksFinished = Meter.CreateCounter<long>(
        "gearman.client.tasks.finished", "{task}", "Tasks that ended, by gearman.task.outcome.");

    private static readonly Histogram<double> TaskDuration = Meter.CreateHistogram<double>(
        "gearman.client.task.duration", "s", "Time from a task's submit to its end.");

    private static readonly UpDownCounter<long> ClientConnections = Meter.CreateUpDownCounter<long>(
        "gearman.client.connections", "{connection}", "Open client connections to job servers.");

    private static readonly Counter<long> ClientReconnects = Meter.CreateCounter<long>(
        "gearman.client.reconnects", "{connection}", "Client connections opened to a job server after an earlier one to it was lost.");

    private static readonly Counter<long> JobsStarted = Meter.CreateCounter<long>(
        "gearman.worker.jobs.started", "{job}", "Jobs assigned to this worker.");

    private static readonly Counter<long> JobsFinished = Meter.CreateCounter<long>(
        "gearman.worker.jobs.finished", "{job}", "Jobs that ended on this worker, by gearman.job.outcome.");

    private static readonly Histogram<double> JobDuration = Meter.CreateHistogram<double>(
        "gearman.worker.job.duration", "s", "Time from a job's assignment to its end.");

    private static readonly UpDownCounter<long> JobsActive = Meter.CreateUpDownCounter<long>(
        "gearman.worker.jobs.active", "{job}", "Jobs assigned to this worker that have not ended.");

    /// <summary>How a client task ended: the value of the <c>gearman.task.outcome</c> tag.</summary>
    public enum TaskOutcome
    {
        /// <summary>A foreground job's WORK_COMPLETE arrived.</summary>
        Completed,

        /// <summary>A background job was accepted (JOB_CREATED): the client's part ends there.</summary>
        Created,

        /// <summary>WORK_FAIL.</summary>
        Failed,

        /// <summary>WORK_EXCEPTION.</summary>
        Exception,

        /// <summary>The job's timeout expired.</summary>
        Timeout,

        /// <summary>The caller cancelled or unsubscribed (the job keeps running).</summary>
        Detached,

        /// <summary>Anything else: no server, a lost connection, an ERROR reply, the client disposed.</summary>
        Error,
    }

    /// <summary>How a worker job ended: the value of the <c>gearman.job.outcome</c> tag.</summary>
    public enum JobOutcome
    {
        /// <summary>WORK_COMPLETE sent.</summary>
        Completed,

        /// <summary>WORK_FAIL sent.</summary>
        Failed,

        /// <summary>WORK_EXCEPTION sent.</summary>
        Exception,

        /// <summary>Taken away without a result: its connection closed or the worker stopped.</summary>
        Abandoned,

        /// <summary>Its registered timeout expired.</summary>
        Timeout,

        /// <summary>Given back to the server (<see cref="GearmanJobRetryException"/>).</summary>
        Retried,
    }

    // Client tasks.

    /// <summary>Counts a task as submitted; returns its start timestamp, or 0 when its duration is not measured.</summary>
    public static long TaskStarted(string function, TimeProvider time)
    {
        if (TasksSubmitted.Enabled) TaskStartedCore(function);
        return TaskDuration.Enabled ? time.GetTimestamp() : 0;
    }

    /// <summary>Records how a task ended; <paramref name="start"/> is what <see cref="TaskStarted"/> returned.</summary>
    public static void TaskFinished(string function, TaskOutcome outcome, long start, TimeProvider time)
    {
        if (TasksFinished.Enabled || start != 0) TaskFinishedCore(function, outcome, start, time);
    }

    /// <summary>The outcome of a task that ended with <paramref name="error"/> (other than its timeout).</summary>
    public static TaskOutcome OutcomeOf(Exception error) => error switch
    {
        OperationCanceledException => TaskOutcome.Detached,
        GearmanJobFailedException => TaskOutcome.Failed,
        GearmanJobException => TaskOutcome.Exception,
        _ => TaskOutcome.Error,
    };

    /// <summary>Counts an open client connection; returns true when it was counted (then <see cref="ClientConnectionClosed"/> must follow).</summary>
    public static bool ClientConnectionOpened(ServerEndpoint server, bool reconnect)
    {
        if (reconnect && ClientReconnects.Enabled) ClientReconnectedCore(server);
        if (!ClientConnections.Enabled) return false;
        ClientConnectionsCore(server, 1);
        return true;
    }

    /// <summary>Uncounts a connection that <see cref="ClientConnectionOpened"/> counted.</summary>
    public static void ClientConnectionClosed(ServerEndpoint server) => ClientConnectionsCore(server, -1);

    // Worker jobs.

    /// <summary>
    /// Counts a job as started (and active); returns its start timestamp, or 0 when its duration is not measured.
    /// <paramref name="active"/> says whether it was counted as active (then <see cref="JobFinished"/> uncounts it).
    /// </summary>
    public static long JobStarted(string function, TimeProvider time, out bool active)
    {
        active = JobsActive.Enabled;
        if (active || JobsStarted.Enabled) JobStartedCore(function, active);
        return JobDuration.Enabled ? time.GetTimestamp() : 0;
    }

    /// <summary>Records how a job ended, with what <see cref="JobStarted"/> returned.</summary>
    public static void JobFinished(string function, JobOutcome outcome, long start, bool active, TimeProvider time)
    {
        if (active || start != 0 || JobsFinished.Enabled) JobFinishedCore(function, outcome, start, active, time);
    }

    internal static string OutcomeName(TaskOutcome outcome) => outcome switch
    {
        TaskOutcome.Completed => "completed",
        TaskOutcome.Created => "created",
        TaskOutcome.Failed => "failed",
        TaskOutcome.Exception => "exception",
        TaskOutcome.Timeout => "timeout",
        TaskOutcome.Detached => "detached",
        _ => "error",
    };

    internal static string OutcomeName(JobOutcome outcome) => outcome switch
    {
        JobOutcome.Completed => "completed",
        JobOutcome.Failed => "failed",
        JobOutcome.Exception => "exception",
        JobOutcome.Abandoned => "abandoned",
        JobOutcome.Timeout => "timeout",
        _ => "retried",
    };

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void TaskStartedCore(string function) => TasksSubmitted.Add(1, new KeyValuePair<string, object?>(FunctionTag, function));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void TaskFinishedCore(string function, TaskOutcome outcome, long start, TimeProvider time)
        => RecordEnd(TasksFinished, TaskDuration, new TagList { { FunctionTag, function }, { TaskOutcomeTag, OutcomeName(outcome) } }, start, time);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ClientConnectionsCore(ServerEndpoint server, long delta) => ClientConnections.Add(delta, ServerTags(server));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ClientReconnectedCore(ServerEndpoint server) => ClientReconnects.Add(1, ServerTags(server));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void JobStartedCore(string function, bool active)
    {
        var tag = new KeyValuePair<string, object?>(FunctionTag, function);
        JobsStarted.Add(1, tag);
        if (active) JobsActive.Add(1, tag);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void JobFinishedCore(string function, JobOutcome outcome, long start, bool active, TimeProvider time)
    {
        if (active) JobsActive.Add(-1, new KeyValuePair<string, object?>(FunctionTag, function));
        RecordEnd(JobsFinished, JobDuration, new TagList { { FunctionTag, function }, { JobOutcomeTag, OutcomeName(outcome) } }, start, time);
    }

    /// <summary>Counts an end and, when its start was timed, records its duration, with the same tags.</summary>
    private static void RecordEnd(Counter<long> finished, Histogram<double> duration, in TagList tags, long start, TimeProvider time)
    {
        finished.Add(1, tags);
        if (start != 0) duration.Record(time.GetElapsedTime(start).TotalSeconds, tags);
    }

    /// <summary>The OpenTelemetry tags naming a job server.</summary>
    private static TagList ServerTags(ServerEndpoint server) => new() { { "server.address", server.Host }, { "server.port", server.Port } };
}
