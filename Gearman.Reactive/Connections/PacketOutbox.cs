using System.Buffers;
using System.IO.Pipelines;
using Gearman.Reactive.Connections.Transports;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Connections;

/// <summary>
/// The outbound side of one connection. Any thread may send packets: they are serialised under a short lock into a
/// pending batch. One write loop (<see cref="RunAsync(IBatchWriter, CancellationToken)"/>) swaps batches, copies a whole batch into the
/// <see cref="PipeWriter"/> and flushes once per batch, so bursts of small packets cost one syscall.
/// </summary>
/// <remarks>
/// <para>
/// By default every send wakes the write loop on the thread pool, so that a burst of sends from one thread is written in
/// few batches. Inside a <see cref="SendInline"/> scope, sends on that thread only queue, and the end of the scope
/// writes what they queued on the same thread (the write loop runs inline when it is idle): no thread hop and one
/// write for the whole scope. The SDK uses it where latency matters more than batching: a request on an idle
/// connection, and a worker's result together with its next grab.
/// </para>
/// <para>
/// An owner that sends in bursts from one place (the
/// server's scheduler) passes a <c>flushNeeded</c> callback instead: sends then only queue, the first send after a
/// flush reports the outbox through the callback, and the owner calls <see cref="Flush"/> once its burst is over,
/// which runs the write loop on the owner's thread.
/// </para>
/// <para>
/// With a high-water mark (the SDK sets one; the server does not), <see cref="WaitForRoomAsync"/> lets senders wait
/// while that many bytes are queued and not yet taken by the write loop, so a peer that stops reading bounds the memory
/// a sender can fill instead of growing it without end. Sends themselves never wait: an owner awaits the room first.
/// </para>
/// </remarks>
internal sealed class PacketOutbox : IDisposable
{
    [ThreadStatic]
    private static int _inlineDepth;

    [ThreadStatic]
    private static PacketOutbox? _deferred;

    [ThreadStatic]
    private static List<PacketOutbox>? _moreDeferred;

    private readonly Lock _lock = new();
    private readonly AsyncSignal _signal = new();
    private readonly PacketMagic _magic;
    private readonly Action<PacketOutbox>? _flushNeeded;
    private readonly int _highWaterMark;
    private readonly SemaphoreSlim? _turns;
    private PooledBufferWriter _pending = new();
    private PooledBufferWriter _sending = new();
    private int _pendingCount;
    private bool _completed;
    private bool _disposed;
    private bool _flushRequested;
    private TaskCompletionSource? _room;

    /// <param name="magic"><see cref="PacketMagic.Request"/> for clients and workers, <see cref="PacketMagic.Response"/> for a server.</param>
    /// <param name="flushNeeded">
    /// Null: each send wakes the write loop. Otherwise sends wait for <see cref="Flush"/>, and the first one after a flush
    /// calls this (under the outbox's lock, so it must be short and must not call back into the outbox).
    /// </param>
    /// <param name="highWaterMark">
    /// Queued bytes at which <see cref="WaitForRoomAsync"/> starts to wait; 0 (the default) never waits.
    /// </param>
    public PacketOutbox(PacketMagic magic, Action<PacketOutbox>? flushNeeded = null, int highWaterMark = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(highWaterMark);
        _magic = magic;
        _flushNeeded = flushNeeded;
        _highWaterMark = highWaterMark;
        if (highWaterMark > 0) _turns = new SemaphoreSlim(1, 1);
    }

    /// <summary>
    /// Starts a scope in which this thread's sends (to any outbox without <c>flushNeeded</c>) do not wake write loops;
    /// disposing the outermost scope writes them on this thread. Scopes nest. A scope must not span an <c>await</c>
    /// (it is per thread), and must end outside locks that a write loop's continuation could need.
    /// </summary>
    public static InlineSendScope SendInline()
    {
        _inlineDepth++;
        return default;
    }

    /// <summary>Bytes queued and not yet handed to the transport (approximate; for back-pressure decisions).</summary>
    public int PendingBytes => Volatile.Read(ref _pendingCount);

    /// <summary>The high-water mark given at construction; 0 when sends never wait.</summary>
    public int HighWaterMark => _highWaterMark;

    /// <summary>Whether the write loop waits for packets (for tests).</summary>
    internal bool IsWriterWaiting => _signal.HasWaiter;

    /// <summary>Whether the outbox accepts no more packets.</summary>
    public bool IsCompleted
    {
        get
        {
            lock (_lock) return _completed;
        }
    }

    /// <summary>
    /// Waits for room under the high-water mark: completes at once (synchronously, allocating nothing) while fewer than
    /// that many bytes are queued, or when there is no mark; otherwise when the write loop has taken the queued bytes, or
    /// the outbox has completed (a send then returns false). Dispose the returned turn right after sending: senders that
    /// had to wait get room one at a time, each after the previous one has queued its packet, so a drain does not let
    /// them all in at once. The queue therefore exceeds the mark by at most one packet per thread sending at that moment.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    public ValueTask<SendTurn> WaitForRoomAsync(CancellationToken cancellationToken = default)
        => HasRoom ? new(default(SendTurn)) : WaitForRoomSlowAsync(cancellationToken);

    /// <summary>True when a sender need not wait: no high-water mark, or fewer bytes queued than the mark (a hint).</summary>
    public bool HasRoom => _highWaterMark == 0 || Volatile.Read(ref _pendingCount) < _highWaterMark;

    public bool Send(PacketType type)
    {
        lock (_lock)
        {
            if (_completed) return false;
            PacketWriter.Write(_pending, _magic, type);
            Queued();
        }

        AfterSend();
        return true;
    }

    public bool Send(PacketType type, ReadOnlySpan<byte> last)
    {
        lock (_lock)
        {
            if (_completed) return false;
            PacketWriter.Write(_pending, _magic, type, last);
            Queued();
        }

        AfterSend();
        return true;
    }

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> last)
    {
        lock (_lock)
        {
            if (_completed) return false;
            PacketWriter.Write(_pending, _magic, type, f0, last);
            Queued();
        }

        AfterSend();
        return true;
    }

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, in ReadOnlySequence<byte> data)
    {
        lock (_lock)
        {
            if (_completed) return false;
            PacketWriter.Write(_pending, _magic, type, f0, data);
            Queued();
        }

        AfterSend();
        return true;
    }

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> last)
    {
        lock (_lock)
        {
            if (_completed) return false;
            PacketWriter.Write(_pending, _magic, type, f0, f1, last);
            Queued();
        }

        AfterSend();
        return true;
    }

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> last)
    {
        lock (_lock)
        {
            if (_completed) return false;
            PacketWriter.Write(_pending, _magic, type, f0, f1, f2, last);
            Queued();
        }

        AfterSend();
        return true;
    }

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> f3, ReadOnlySpan<byte> last)
    {
        lock (_lock)
        {
            if (_completed) return false;
            PacketWriter.Write(_pending, _magic, type, f0, f1, f2, f3, last);
            Queued();
        }

        AfterSend();
        return true;
    }

    public bool Send(PacketType type, ReadOnlySpan<byte> f0, ReadOnlySpan<byte> f1, ReadOnlySpan<byte> f2, ReadOnlySpan<byte> f3, ReadOnlySpan<byte> f4, ReadOnlySpan<byte> last)
    {
        lock (_lock)
        {
            if (_completed) return false;
            PacketWriter.Write(_pending, _magic, type, f0, f1, f2, f3, f4, last);
            Queued();
        }

        AfterSend();
        return true;
    }

    /// <summary>Queues raw bytes, for example an admin text reply.</summary>
    public bool SendRaw(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            if (_completed) return false;
            _pending.Write(bytes);
            Queued();
        }

        AfterSend();
        return true;
    }

    /// <summary>Accepts no more packets; the write loop sends what is queued and then ends.</summary>
    public void Complete()
    {
        TaskCompletionSource? room;
        lock (_lock)
        {
            _completed = true;
            room = TakeRoomWaiters();
        }

        room?.TrySetResult();
        _signal.Set();
    }

    /// <summary>
    /// Sends what is queued: the write loop, if it is waiting, runs on this thread until its next wait (the transport's
    /// flush usually completes synchronously), otherwise it picks the batch up when it is done with the current one.
    /// Call it outside any lock.
    /// </summary>
    public void Flush()
    {
        lock (_lock) _flushRequested = false;
        _signal.Set(runWaiterInline: true);
    }

    /// <summary>Drains queued batches into <paramref name="output"/> until <see cref="Complete"/> or cancellation.</summary>
    public Task RunAsync(PipeWriter output, CancellationToken cancellationToken) => RunAsync(new PipeBatchWriter(output), cancellationToken);

    /// <summary>Drains queued batches into <paramref name="output"/> until <see cref="Complete"/>, cancellation, or the output refusing more.</summary>
    public async Task RunAsync(IBatchWriter output, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
            PooledBufferWriter batch;
            bool last;
            TaskCompletionSource? room;
            lock (_lock)
            {
                batch = _pending;
                _pending = _sending;
                _sending = batch;
                last = _completed;
                _pendingCount = 0;
                room = TakeRoomWaiters();
            }

            room?.TrySetResult();

            if (batch.WrittenCount > 0)
            {
                bool open = await output.WriteAsync(batch.WrittenMemory, cancellationToken).ConfigureAwait(false);
                batch.Clear();
                if (!open) return;
            }

            if (last)
            {
                // Anything queued between the swap and Complete is sent too.
                lock (_lock)
                {
                    if (_pending.WrittenCount == 0) return;
                }

                _signal.Set();
            }
        }
    }

    /// <summary>
    /// For an owner that writes the queued bytes itself instead of running <see cref="RunAsync(IBatchWriter, CancellationToken)"/> (the server's epoll
    /// transport): hands over the pending batch in exchange for <paramref name="empty"/>, which must have nothing written,
    /// and lets the next send report through <c>flushNeeded</c> again. The caller owns the returned batch and passes it
    /// back as <paramref name="empty"/> (cleared) next time, so the two buffers take turns.
    /// </summary>
    /// <param name="empty">An empty buffer that becomes the pending one.</param>
    /// <param name="completed">Whether the outbox accepts no more packets (so the returned batch is the last).</param>
    /// <returns>The queued bytes, possibly none.</returns>
    public PooledBufferWriter SwapPending(PooledBufferWriter empty, out bool completed)
    {
        PooledBufferWriter batch;
        TaskCompletionSource? room;
        lock (_lock)
        {
            completed = _completed;
            if (_disposed) return empty;
            batch = _pending;
            _pending = empty;
            _pendingCount = 0;
            _flushRequested = false;
            room = TakeRoomWaiters();
        }

        room?.TrySetResult();
        return batch;
    }

    /// <summary>Returns the buffers to the pool; call only after <see cref="RunAsync(IBatchWriter, CancellationToken)"/> has ended.</summary>
    public void Dispose()
    {
        TaskCompletionSource? room;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _completed = true;
            _pending.Dispose();
            _sending.Dispose();
            room = TakeRoomWaiters();
        }

        room?.TrySetResult();
    }

    /// <summary>Under the lock, when the queue has been taken or will take nothing more: the senders to release (completed outside the lock).</summary>
    private TaskCompletionSource? TakeRoomWaiters()
    {
        var room = _room;
        _room = null;
        return room;
    }

    private async ValueTask<SendTurn> WaitForRoomSlowAsync(CancellationToken cancellationToken)
    {
        await _turns!.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                Task room;
                lock (_lock)
                {
                    if (_completed || _pendingCount < _highWaterMark) return new SendTurn(this);
                    room = (_room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }

                await room.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            _turns.Release();
            throw;
        }
    }

    /// <summary>Ends a turn taken by a sender that had to wait: the next waiting sender may check for room.</summary>
    internal void EndTurn() => _turns!.Release();

    /// <summary>Under the lock, after a packet was queued.</summary>
    private void Queued()
    {
        _pendingCount = _pending.WrittenCount;
        if (_flushNeeded is not null && !_flushRequested)
        {
            _flushRequested = true;
            _flushNeeded(this);
        }
    }

    /// <summary>Outside the lock, after a packet was queued: wakes the write loop (mode without <c>flushNeeded</c>).</summary>
    private void AfterSend()
    {
        if (_flushNeeded is not null) return;
        if (_inlineDepth > 0)
        {
            Defer(this);
            return;
        }

        // On a reader thread, the write loop runs there once the read's packets are handled: one write for them all.
        if (ReaderDelivery.TryDefer(static outbox => ((PacketOutbox)outbox!)._signal.Set(runWaiterInline: true), this, DeferredKind.Own)) return;
        _signal.Set();
    }

    private static void Defer(PacketOutbox outbox)
    {
        if (_deferred is null)
        {
            _deferred = outbox;
            return;
        }

        if (ReferenceEquals(_deferred, outbox)) return;
        var more = _moreDeferred ??= [];
        if (!more.Contains(outbox)) more.Add(outbox);
    }

    internal static void EndSendInline()
    {
        if (--_inlineDepth > 0) return;
        while (_deferred is { } first)
        {
            // Flushing runs write loops on this thread; clear first so that a send they might cause is not lost.
            _deferred = null;
            var more = _moreDeferred;
            _moreDeferred = null;
            first._signal.Set(runWaiterInline: true);
            if (more is null) continue;
            foreach (var outbox in more) outbox._signal.Set(runWaiterInline: true);
        }
    }
}

/// <summary>Ends a <see cref="PacketOutbox.SendInline"/> scope when disposed.</summary>
internal readonly struct InlineSendScope : IDisposable
{
    public void Dispose() => PacketOutbox.EndSendInline();
}

/// <summary>
/// A sender's turn after <see cref="PacketOutbox.WaitForRoomAsync"/>; dispose it once the packet is queued (or the sender
/// decided not to send). The default value, from the fast path, holds nothing.
/// </summary>
internal readonly struct SendTurn : IDisposable
{
    private readonly PacketOutbox? _outbox;

    public SendTurn(PacketOutbox outbox) => _outbox = outbox;

    public void Dispose() => _outbox?.EndTurn();
}
