using System.Globalization;
using System.Text;

namespace Gearman.Reactive.Worker;

/// <summary>A function as it is registered: <c>CAN_DO name</c>, or <c>CAN_DO_TIMEOUT name\0ms</c> when it has a timeout.</summary>
internal sealed class RegisteredFunction
{
    /// <summary>Job servers raise timeouts under one second to one second (protocol.md §2.11); the worker's token follows them.</summary>
    private static readonly TimeSpan MinimumTimeout = TimeSpan.FromSeconds(1);

    public RegisteredFunction(string name, TimeSpan? timeout, bool traceContext = false)
    {
        Name = name;
        TraceContext = traceContext;
        NameBytes = Encoding.UTF8.GetBytes(name);
        if (timeout is { } t)
        {
            long ms = Math.Max(1, (long)Math.Ceiling(t.TotalMilliseconds));
            TimeoutMilliseconds = Encoding.ASCII.GetBytes(ms.ToString(CultureInfo.InvariantCulture));
            EffectiveTimeout = t < MinimumTimeout ? MinimumTimeout : t;
        }
    }

    public string Name { get; }

    /// <summary>Whether workloads may carry the trace-context envelope (<see cref="GearmanFunctionOptions.TraceContext"/>).</summary>
    public bool TraceContext { get; }

    public byte[] NameBytes { get; }

    /// <summary>The CAN_DO_TIMEOUT argument (decimal milliseconds), or null to register with CAN_DO.</summary>
    public byte[]? TimeoutMilliseconds { get; }

    /// <summary>When a job's cancellation token fires, or null for no timeout.</summary>
    public TimeSpan? EffectiveTimeout { get; }
}
