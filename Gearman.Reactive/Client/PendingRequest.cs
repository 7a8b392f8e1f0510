namespace Gearman.Reactive.Client;

/// <summary>What reply a <see cref="PendingRequest"/> waits for.</summary>
internal enum PendingKind
{
    /// <summary>A submit: JOB_CREATED.</summary>
    Submit,

    /// <summary>GET_STATUS: STATUS_RES with the same handle.</summary>
    Status,

    /// <summary>GET_STATUS_UNIQUE: STATUS_RES_UNIQUE with the same unique ID.</summary>
    StatusUnique,

    /// <summary>OPTION_REQ: OPTION_RES.</summary>
    Option,
}

/// <summary>
/// A request sent on one connection that the server answers once. Requests form an intrusive list in send order
/// (<see cref="ServerSession"/>); a reply is matched to the oldest request of its kind (JOB_CREATED in FIFO order,
/// STATUS_RES by handle, STATUS_RES_UNIQUE by unique), and an ERROR to the oldest request of any kind (protocol.md §5.1).
/// A request stays listed until its reply arrives even when its caller has gone, so later replies still match.
/// </summary>
internal abstract class PendingRequest
{
    /// <summary>The next (younger) request on the same connection; owned by the session's lock.</summary>
    internal PendingRequest? Next { get; set; }

    /// <summary>The previous (older) request on the same connection; owned by the session's lock.</summary>
    internal PendingRequest? Previous { get; set; }

    /// <summary>When the request was queued (<see cref="TimeProvider.GetTimestamp"/>).</summary>
    internal long SentAt { get; set; }

    public abstract PendingKind Kind { get; }

    /// <summary>The server answered ERROR to this request. Called under the session lock.</summary>
    public abstract void OnServerError(GearmanServerErrorException error);

    /// <summary>The reply cannot be understood. Called under the session lock.</summary>
    public abstract void OnProtocolError(GearmanProtocolException error);
}

/// <summary>A GET_STATUS or GET_STATUS_UNIQUE awaiting its STATUS_RES(_UNIQUE).</summary>
internal sealed class StatusRequest(PendingKind kind, string key) : PendingRequest
{
    private readonly TaskCompletionSource<JobStatus> _reply = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override PendingKind Kind { get; } = kind;

    /// <summary>The handle (GET_STATUS) or unique ID (GET_STATUS_UNIQUE) the reply must carry.</summary>
    public string Key { get; } = key;

    public Task<JobStatus> Reply => _reply.Task;

    public void Complete(JobStatus status) => _reply.TrySetResult(status);

    public void Fail(Exception error) => _reply.TrySetException(error);

    public override void OnServerError(GearmanServerErrorException error) => Fail(error);

    public override void OnProtocolError(GearmanProtocolException error) => Fail(error);
}

/// <summary>OPTION_REQ sent when a connection opens; a refusal is logged, not fatal.</summary>
internal sealed class OptionRequest(ServerSession session, string name) : PendingRequest
{
    public override PendingKind Kind => PendingKind.Option;

    public string Name { get; } = name;

    public override void OnServerError(GearmanServerErrorException error) => session.OnOptionRefused(Name, error);

    public override void OnProtocolError(GearmanProtocolException error) => session.OnOptionRefused(Name, error);
}
