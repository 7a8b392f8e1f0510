using System.Diagnostics;
using System.Runtime.CompilerServices;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;

namespace Gearman.Reactive.Diagnostics;

/// <summary>
/// The SDK's spans, following OpenTelemetry's messaging conventions: <c>submit {function}</c> (producer) from a
/// client's submit to the task's end, <c>process {function}</c> (consumer) around a worker handler, and
/// <c>aggregate {function}</c> around a map job's aggregator. While nothing listens, each start is one check and
/// returns null.
/// </summary>
internal static class GearmanTracing
{
    private static readonly ActivitySource Source = new(GearmanTelemetry.ActivitySourceName, typeof(GearmanTracing).Assembly.GetName().Version?.ToString());

    /// <summary>Starts the span of one client task (null while nothing listens).</summary>
    public static Activity? StartSubmit(SubmitRequest request)
        => Source.HasListeners() ? StartSubmitCore(request) : null;

    /// <summary>Starts the span of one handler run, parented by the job's envelope when it carried one.</summary>
    public static Activity? StartProcess(GearmanJob job)
        => Source.HasListeners() ? StartProcessCore(job) : null;

    /// <summary>Starts the span of a map job's aggregation (a child of the map job's span).</summary>
    public static Activity? StartAggregate(GearmanJob job)
        => Source.HasListeners() ? StartAggregateCore(job) : null;

    /// <summary>Records a task event on the submit span: the handle when created, an event for the others.</summary>
    public static void OnTaskEvent(Activity activity, in TaskEvent e)
    {
        if (!activity.IsAllDataRequested) return;
        switch (e.Kind)
        {
            case TaskEventKind.Created:
                activity.SetTag(SemanticConventions.MessageId, e.Job.Handle);
                activity.AddEvent(new ActivityEvent("gearman.created"));
                break;
            case TaskEventKind.Data:
                activity.AddEvent(new ActivityEvent("gearman.data", tags: new ActivityTagsCollection { [SemanticConventions.BodySize] = e.Data.Length }));
                break;
            case TaskEventKind.Warning:
                activity.AddEvent(new ActivityEvent("gearman.warning", tags: new ActivityTagsCollection { [SemanticConventions.BodySize] = e.Data.Length }));
                break;
            case TaskEventKind.Status:
                activity.AddEvent(new ActivityEvent("gearman.status", tags: new ActivityTagsCollection { ["gearman.status.numerator"] = e.Numerator, ["gearman.status.denominator"] = e.Denominator }));
                break;
        }
    }

    /// <summary>Marks a span as failed with <paramref name="error"/> (<c>error.type</c> and an error status).</summary>
    public static void Failed(Activity? activity, Exception error)
    {
        if (activity is null) return;
        activity.SetTag(SemanticConventions.ErrorType, error.GetType().FullName);
        activity.SetStatus(ActivityStatusCode.Error, error.Message);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Activity? StartSubmitCore(SubmitRequest request)
    {
        var activity = Source.StartActivity($"submit {request.Function}", ActivityKind.Producer);
        if (activity is { IsAllDataRequested: true })
        {
            SetOperation(activity, "submit", "send", request.Function);
            activity.SetTag(SemanticConventions.BodySize, request.Payload.Length);
            if (request.Background) activity.SetTag("gearman.job.background", true);
            if (request.Options.Reducer is { } reducer) activity.SetTag("gearman.job.reducer", reducer);
        }

        return activity;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Activity? StartProcessCore(GearmanJob job)
    {
        // With an envelope the client's span is the parent; otherwise whatever is current (usually nothing).
        var activity = job.TraceParent is { } parent
            ? Source.StartActivity($"process {job.Function}", ActivityKind.Consumer, parent)
            : Source.StartActivity($"process {job.Function}", ActivityKind.Consumer);
        if (activity is { IsAllDataRequested: true })
        {
            SetOperation(activity, "process", "process", job.Function);
            activity.SetTag(SemanticConventions.MessageId, job.Handle);
            activity.SetTag(SemanticConventions.BodySize, job.Workload.Length);
            if (job.Reducer is { } reducer) activity.SetTag("gearman.job.reducer", reducer);
        }

        return activity;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Activity? StartAggregateCore(GearmanJob job)
    {
        var activity = Source.StartActivity($"aggregate {job.Function}", ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            SetOperation(activity, "aggregate", null, job.Function);
            activity.SetTag(SemanticConventions.MessageId, job.Handle);
        }

        return activity;
    }

    /// <summary>The attributes every span has: the system, the operation and the destination (the function).</summary>
    private static void SetOperation(Activity activity, string operationName, string? operationType, string function)
    {
        activity.SetTag(SemanticConventions.System, SemanticConventions.Gearman);
        activity.SetTag(SemanticConventions.OperationName, operationName);
        if (operationType is not null) activity.SetTag(SemanticConventions.OperationType, operationType);
        activity.SetTag(SemanticConventions.DestinationName, function);
    }

    /// <summary>The OpenTelemetry attribute names used here.</summary>
    private static class SemanticConventions
    {
        public const string System = "messaging.system";
        public const string Gearman = "gearman";
        public const string OperationName = "messaging.operation.name";
        public const string OperationType = "messaging.operation.type";
        public const string DestinationName = "messaging.destination.name";
        public const string MessageId = "messaging.message.id";
        public const string BodySize = "messaging.message.body.size";
        public const string ErrorType = "error.type";
    }
}
