using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Connections.Transports;

namespace Gearman.Reactive.Client;

/// <summary>
/// The events of one consumer: any thread writes (normally the connection's read loop), one consumer reads. A ring
/// buffer rented from <see cref="ArrayPool{T}"/> under a short lock, plus a reusable <see cref="AsyncSignal"/>: neither
/// a burst of events nor waiting for them allocates, so an event costs nothing beyond its payload copy.
/// Unbounded, because a bounded queue would make one slow consumer stall the read loop of every job on its connection;
/// a job's events are bounded by what its worker sends.
/// </summary>
internal sealed class TaskEventQueue
{
    private const int InitialCapacity = 8;

    private readonly Lock _lock = new();
    private readonly AsyncSignal _signal = new();
    private TaskEvent[] _buffer = [];
    private int _head;
    private int _count;
    private ExceptionDispatchInfo? _error;
    private bool _completed;
    private bool _released;

    /// <summary>Queues an event; false once the queue is completed.</summary>
    public bool TryWrite(in TaskEvent item)
    {
        lock (_lock)
        {
            if (_completed) return false;
            if (_count == _buffer.Length) Grow();
            int tail = _head + _count;
            if (tail >= _buffer.Length) tail -= _buffer.Length;
            _buffer[tail] = item;
            _count++;
        }

        Wake();
        return true;
    }

    /// <summary>Ends the stream after the queued events, with <paramref name="error"/> if not null; false if already ended.</summary>
    public bool TryComplete(Exception? error = null)
    {
        lock (_lock)
        {
            if (_completed) return false;
            _completed = true;

            // Captured once: each consumer rethrows it through the dispatch info, which keeps the original stack trace
            // (a plain rethrow of a shared instance would overwrite it, once per consumer and from many threads).
            _error = error is null ? null : ExceptionDispatchInfo.Capture(error);
        }

        Wake();
        return true;
    }

    /// <summary>Takes the next event, if one is queued.</summary>
    public bool TryRead(out TaskEvent item)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                item = default;
                return false;
            }

            item = _buffer[_head];
            _buffer[_head] = default;
            if (++_head == _buffer.Length) _head = 0;
            _count--;
            return true;
        }
    }

    /// <summary>
    /// Waits until an event can be read (true) or the stream has ended (false, or the completion error is thrown).
    /// Only one consumer may wait at a time.
    /// </summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_count > 0) return new(true);
            if (_completed) return _error is null ? new(false) : ValueTask.FromException<bool>(_error.SourceException);
        }

        return WaitSlowAsync(cancellationToken);
    }

    /// <summary>The consumer is done: drop what is queued, refuse further events and give the buffer back to the pool.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _completed = true;
            if (_released) return;
            _released = true;
            if (_buffer.Length == 0) return;
            ReturnBuffer(_buffer);
            _buffer = [];
            _head = _count = 0;
        }
    }

    /// <summary>Pooled builder: a consumer that waits once per event must not allocate a state machine per wait.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> WaitSlowAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                if (_count > 0) return true;
                if (_completed)
                {
                    _error?.Throw();
                    return false;
                }
            }
        }
    }

    /// <summary>Doubles the ring (under the lock), keeping the events in order.</summary>
    /// <summary>Wakes the consumer: on a reader thread, once the read's packets are handled and on that thread (no pool hop).</summary>
    private void Wake()
    {
        if (!ReaderDelivery.TryDefer(static signal => ((AsyncSignal)signal!).Set(runWaiterInline: true), _signal, DeferredKind.Consumer)) _signal.Set();
    }

    private void Grow()
    {
        var bigger = ArrayPool<TaskEvent>.Shared.Rent(Math.Max(InitialCapacity, _buffer.Length * 2));
        if (_count > 0)
        {
            int firstPart = Math.Min(_count, _buffer.Length - _head);
            _buffer.AsSpan(_head, firstPart).CopyTo(bigger);
            _buffer.AsSpan(0, _count - firstPart).CopyTo(bigger.AsSpan(firstPart));
        }

        if (_buffer.Length > 0) ReturnBuffer(_buffer);
        _buffer = bigger;
        _head = 0;
    }

    /// <summary>Pooled arrays must not keep payloads alive: clear them on the way back.</summary>
    private static void ReturnBuffer(TaskEvent[] buffer) => ArrayPool<TaskEvent>.Shared.Return(buffer, clearArray: true);
}
