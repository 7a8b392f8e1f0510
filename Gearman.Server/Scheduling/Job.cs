using Gearman.Reactive;
using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>
/// One job. It owns the pooled copy of its submit packet body: function, unique, reducer and data
/// are slices of it, so a job costs one buffer and this object. Owned by the scheduler loop; never touched elsewhere.
/// </summary>
internal sealed class Job : ILentBuffer
{
    /// <summary>
    /// What a job holds besides a large body, for <see cref="HeldMemory"/>: this object, its handle and its table
    /// entries (about 400 bytes measured per queued 16 B job), plus a pooled body.
    /// </summary>
    private const int HeldEstimate = 400;

    /// <summary>Added to <see cref="_lends"/> by <see cref="Release"/>: the body is returned when the count below it reaches 0.</summary>
    private const int ReleasedFlag = 1 << 30;

    private byte[] _body;
    private FieldSlice _unique;
    private FieldSlice _reducer;
    private FieldSlice _data;
    private JobClients _clients;

    /// <summary>Sends that still read the body from a transport (see <see cref="Lend"/>), plus <see cref="ReleasedFlag"/> once released.</summary>
    private int _lends;
    private byte[]? _returnAfterLends;

    public Job(uint number, byte[] handle, FunctionRecord function, byte[] body, FieldSlice unique, FieldSlice reducer, FieldSlice data, JobPriority priority, bool background, long epoch, long sequence)
    {
        Number = number;
        Handle = handle;
        Function = function;
        _body = body;
        _unique = unique;
        _reducer = reducer;
        _data = data;
        Priority = priority;
        IsBackground = background;
        Epoch = epoch;
        Sequence = sequence;
        HeldMemory.Add(HeldBytes(body));
    }

    /// <summary>The counter part of the handle.</summary>
    public uint Number { get; }

    /// <summary>The full handle, for example <c>H:vm:17</c>.</summary>
    public byte[] Handle { get; }

    public FunctionRecord Function { get; }

    public ReadOnlyMemory<byte> Unique => _body.AsMemory(_unique.Offset, _unique.Length);

    public ReadOnlySpan<byte> Reducer => _body.AsSpan(_reducer.Offset, _reducer.Length);

    public ReadOnlyMemory<byte> ReducerMemory => _body.AsMemory(_reducer.Offset, _reducer.Length);

    public ReadOnlySpan<byte> Data => _body.AsSpan(_data.Offset, _data.Length);

    public ReadOnlyMemory<byte> DataMemory => _body.AsMemory(_data.Offset, _data.Length);

    /// <summary>
    /// Whether <see cref="Lend"/> may hand the data to a transport: only a large body, which the pool never reuses, so
    /// a send that reads it after the job is gone still reads the job's own bytes.
    /// </summary>
    public bool CanLendData => _body.Length > RequestBuffers.MaxPooledLength;

    public JobPriority Priority { get; }

    public bool IsBackground { get; }

    /// <summary>Unix seconds before which the job must not run; 0 runs at once.</summary>
    public long Epoch { get; }

    /// <summary>Creation order, for FIFO placement of jobs that become due later.</summary>
    public long Sequence { get; }

    /// <summary>The worker connection running the job, or null while it is queued.</summary>
    public PeerConnection? Worker { get; set; }

    /// <summary>Bumped at each assignment so a stale timeout never requeues a later run.</summary>
    public int Assignment { get; set; }

    public ITimer? TimeoutTimer { get; set; }

    /// <summary>Foreground clients that receive the job's WORK_* packets (by reference: it is a struct stored in the job).</summary>
    public ref JobClients Clients => ref _clients;

    public int Retries { get; set; }

    public bool IsIgnored { get; set; }

    /// <summary>Whether a durable store holds the job (row <see cref="StoreId"/>).</summary>
    public bool IsPersisted { get; set; }

    /// <summary>The job's row in the store, once a save was started.</summary>
    public long StoreId { get; set; }

    /// <summary>
    /// Whether the store writer is saving the job: it is then not queued, not findable by handle, and its buffer must not
    /// be released until the acknowledgement arrives (the writer reads it).
    /// </summary>
    public bool IsSaving { get; set; }

    /// <summary>Submits (the first and any that coalesced into the job) whose replies wait for the save.</summary>
    public List<PendingReply>? Waiters { get; set; }

    /// <summary>Whether <see cref="Release"/> ran: the job is gone.</summary>
    public bool IsReleased { get; private set; }

    /// <summary>Whether the job waits in <see cref="FunctionRecord"/>'s delayed set for its epoch.</summary>
    public bool IsDelayed { get; set; }

    public int Numerator { get; set; }

    public int Denominator { get; set; }

    /// <summary>Whether the job is linked into one of its function's queues.</summary>
    public bool IsQueued => Queue is not null;

    // Intrusive links of JobQueue.
    internal JobQueue? Queue { get; set; }

    internal Job? Previous { get; set; }

    internal Job? Next { get; set; }

    /// <summary>
    /// On the scheduler: the data, for a transport that sends it from this buffer instead of copying it (only when
    /// <see cref="CanLendData"/>). The body is not returned before the transport calls <see cref="EndLend"/>, from any thread.
    /// </summary>
    public ArraySegment<byte> Lend()
    {
        Interlocked.Increment(ref _lends);
        return new ArraySegment<byte>(_body, _data.Offset, _data.Length);
    }

    /// <summary>The transport no longer reads what <see cref="Lend"/> gave it; the last one returns a released body.</summary>
    public void EndLend()
    {
        if (Interlocked.Decrement(ref _lends) == ReleasedFlag) ReturnLentBody();
    }

    /// <summary>Gives the body back to the pool (once no send reads it any more); the job must be unreachable afterwards.</summary>
    public void Release()
    {
        var body = _body;
        _body = [];
        IsReleased = true;
        _unique = _reducer = _data = default;
        HeldMemory.Remove(HeldBytes(body));
        if (body.Length <= RequestBuffers.MaxPooledLength)
        {
            RequestBuffers.Return(body);
            return;
        }

        // A send may still read it: whichever of this and the last EndLend brings the count to "released, none lent" returns it.
        Volatile.Write(ref _returnAfterLends, body);
        if (Interlocked.Add(ref _lends, ReleasedFlag) == ReleasedFlag) ReturnLentBody();
    }

    private void ReturnLentBody()
    {
        if (Interlocked.Exchange(ref _returnAfterLends, null) is { } body) RequestBuffers.Return(body);
    }

    /// <summary>A large body counts itself (see <see cref="RequestBuffers"/>); a pooled one is counted here.</summary>
    private static int HeldBytes(byte[] body) => HeldEstimate + (body.Length <= RequestBuffers.MaxPooledLength ? body.Length : 0);
}

/// <summary>Offset and length of a field within a job's body buffer.</summary>
internal readonly record struct FieldSlice(int Offset, int Length);
