namespace Gearman.Server.Scheduling;

/// <summary>
/// A large worker result (<c>WORK_COMPLETE</c>, <c>WORK_DATA</c>, ...) relayed to a job's clients from the request's own
/// buffer: the scheduler takes the buffer out of its command slot, each client's transport sends it with a gathered
/// write, and the buffer is returned once the scheduler (<see cref="Release"/>) and the last send are done with it.
/// </summary>
internal sealed class RelayedBody(byte[] buffer, int length) : ILentBuffer
{
    // The scheduler's own hold, ended by Release.
    private int _holds = 1;

    /// <summary>The packet body as the worker sent it; valid until <see cref="Release"/> on the scheduler.</summary>
    public ReadOnlySpan<byte> Body => buffer.AsSpan(0, length);

    public ArraySegment<byte> Lend()
    {
        Interlocked.Increment(ref _holds);
        return new ArraySegment<byte>(buffer, 0, length);
    }

    public void EndLend()
    {
        if (Interlocked.Decrement(ref _holds) == 0) RequestBuffers.Return(buffer);
    }

    /// <summary>On the scheduler, after the result went to every client (or failed to): gives up the scheduler's hold.</summary>
    public void Release() => EndLend();
}
