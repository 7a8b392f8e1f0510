using System.Diagnostics;
using System.Text;

namespace Gearman.Reactive.Diagnostics;

/// <summary>
/// The opt-in envelope that carries W3C trace context inside a payload, because Gearman packets have no headers. Only
/// SDK-to-SDK functions should use it: a peer that does not expect it sees these bytes as part of the workload.
/// </summary>
/// <remarks>
/// The bytes, all ASCII lines ending in <c>\n</c>, then the original payload unchanged:
/// <code>
/// gearman-trace-context/1\n
/// traceparent: 00-{32 hex trace id}-{16 hex span id}-{2 hex flags}\n
/// tracestate: {W3C tracestate}\n      (only when there is one)
/// \n
/// {payload}
/// </code>
/// A worker function that expects the envelope strips it when the workload starts with the first line, and takes the
/// workload as it is otherwise (a libgearman or Perl client can still call it). A workload that starts with the first
/// line but is not a well-formed envelope fails the job with <see cref="GearmanProtocolException"/>.
/// </remarks>
internal static class TraceContextEnvelope
{
    private static ReadOnlySpan<byte> Magic => "gearman-trace-context/1\n"u8;

    private static ReadOnlySpan<byte> TraceParentPrefix => "traceparent: "u8;

    private static ReadOnlySpan<byte> TraceStatePrefix => "tracestate: "u8;

    /// <summary>Wraps <paramref name="payload"/> with <paramref name="context"/> (an empty traceparent when there is none).</summary>
    public static byte[] Wrap(ReadOnlySpan<byte> payload, ActivityContext context)
    {
        var header = new StringBuilder("gearman-trace-context/1\n");
        if (context != default)
        {
            header.Append("traceparent: 00-").Append(context.TraceId.ToHexString()).Append('-').Append(context.SpanId.ToHexString())
                .Append((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "-01" : "-00").Append('\n');
            if (!string.IsNullOrEmpty(context.TraceState) && !context.TraceState.Contains('\n', StringComparison.Ordinal))
            {
                header.Append("tracestate: ").Append(context.TraceState).Append('\n');
            }
        }

        header.Append('\n');
        int headerLength = Encoding.ASCII.GetByteCount(header.ToString());
        var bytes = new byte[headerLength + payload.Length];
        Encoding.ASCII.GetBytes(header.ToString(), bytes);
        payload.CopyTo(bytes.AsSpan(headerLength));
        return bytes;
    }

    /// <summary>
    /// Strips the envelope from <paramref name="workload"/> if it has one: true with the payload and the parent context
    /// (null when the envelope carried none); false when the workload has no envelope.
    /// </summary>
    /// <exception cref="GearmanProtocolException">The workload starts like an envelope but is not one.</exception>
    public static bool TryUnwrap(byte[] workload, out byte[] payload, out ActivityContext? parent)
    {
        payload = workload;
        parent = null;
        var rest = workload.AsSpan();
        if (!rest.StartsWith(Magic)) return false;
        rest = rest[Magic.Length..];
        int offset = Magic.Length;
        string? traceParent = null, traceState = null;
        while (true)
        {
            int end = rest.IndexOf((byte)'\n');
            if (end < 0) throw Malformed("a header line has no end");
            var line = rest[..end];
            offset += end + 1;
            rest = rest[(end + 1)..];
            if (line.IsEmpty) break;
            if (line.StartsWith(TraceParentPrefix)) traceParent = Encoding.ASCII.GetString(line[TraceParentPrefix.Length..]);
            else if (line.StartsWith(TraceStatePrefix)) traceState = Encoding.ASCII.GetString(line[TraceStatePrefix.Length..]);
            else throw Malformed("unknown header line");
        }

        if (traceParent is not null)
        {
            if (!ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var context)) throw Malformed($"invalid traceparent '{traceParent}'");
            parent = context;
        }

        payload = workload.AsSpan(offset).ToArray();
        return true;
    }

    /// <summary>
    /// For a function registered with the envelope: replaces the assignment's workload by the payload inside the
    /// envelope and returns the parent context; returns the error when the envelope is malformed (the job then fails).
    /// </summary>
    public static GearmanProtocolException? Open(ref Worker.JobAssignment assignment, out ActivityContext? parent)
    {
        try
        {
            if (TryUnwrap(assignment.Workload, out var payload, out parent)) assignment = assignment with { Workload = payload };
            return null;
        }
        catch (GearmanProtocolException ex)
        {
            parent = null;
            return ex;
        }
    }

    private static GearmanProtocolException Malformed(string why) => new($"The workload starts with a trace-context envelope that is malformed: {why}.");
}
