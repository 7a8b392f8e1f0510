using System.Diagnostics;
using Gearman.Reactive.Diagnostics;

namespace Gearman.Reactive.Client;

/// <summary>Spans of client tasks and the opt-in trace-context envelope.</summary>
public sealed partial class GearmanClient
{
    /// <summary>
    /// Starts the task's span (when something listens) and, for a job with <see cref="GearmanJobOptions.TraceContext"/>,
    /// returns the request with its payload in the envelope; otherwise the request itself, whose bytes go out unchanged.
    /// An envelope that makes the packet too large throws <see cref="ArgumentException"/> here, inside the run.
    /// </summary>
    private SubmitRequest StartTracing(SubmitRequest request, TaskSubscription subscription)
    {
        var activity = GearmanTracing.StartSubmit(request);
        subscription.Activity = activity;
        if (!request.Options.TraceContext) return request;
        var context = activity?.Context ?? Activity.Current?.Context ?? default;
        return SubmitRequest.Create(request.Function, TraceContextEnvelope.Wrap(request.Payload.Span, context), request.Options, Options.MaxPacketSize);
    }
}
