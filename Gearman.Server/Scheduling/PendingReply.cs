using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>
/// The reply to one submit that has to wait for the store. A connection's pending replies go out strictly in the order
/// of its submits (clients match JOB_CREATED to submits by order), so a reply that is ready early waits behind earlier ones.
/// </summary>
internal sealed class PendingReply
{
    private PendingReply(PeerConnection connection, Job? job, bool foreground)
    {
        Connection = connection;
        Job = job;
        Foreground = foreground;
    }

    public PeerConnection Connection { get; }

    /// <summary>The job the reply is about: JOB_CREATED carries its handle.</summary>
    public Job? Job { get; }

    /// <summary>A foreground submit that coalesced into the job: the client is attached when the reply goes out.</summary>
    public bool Foreground { get; }

    /// <summary>Whether the outcome is known (<see cref="ErrorCode"/> set, or the job is durable).</summary>
    public bool IsReady { get; private set; }

    /// <summary>The ERROR packet's code when the submit failed; null for JOB_CREATED.</summary>
    public byte[]? ErrorCode { get; private set; }

    public byte[]? ErrorText { get; private set; }

    /// <summary>A reply that waits for <paramref name="job"/>'s save.</summary>
    public static PendingReply Waiting(PeerConnection connection, Job job, bool foreground) => new(connection, job, foreground);

    /// <summary>A JOB_CREATED that is ready but queued behind earlier replies.</summary>
    public static PendingReply Created(PeerConnection connection, Job job) => new(connection, job, foreground: false) { IsReady = true };

    /// <summary>An ERROR that is ready but queued behind earlier replies.</summary>
    public static PendingReply Failed(PeerConnection connection, ReadOnlySpan<byte> code, ReadOnlySpan<byte> text)
        => new(connection, null, foreground: false) { IsReady = true, ErrorCode = code.ToArray(), ErrorText = text.ToArray() };

    public void Succeed() => IsReady = true;

    public void Fail(ReadOnlySpan<byte> code, ReadOnlySpan<byte> text)
    {
        IsReady = true;
        ErrorCode = code.ToArray();
        ErrorText = text.ToArray();
    }
}
