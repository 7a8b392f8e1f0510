using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Gearman.Server.Scheduling;
using Microsoft.Extensions.Logging;
using static Gearman.Reactive.Connections.Transports.LinuxSockets;
using static Gearman.Server.Networking.Epoll.LinuxInterop;

namespace Gearman.Server.Networking.Epoll;

/// <summary>
/// One I/O thread: <c>epoll_wait</c> over its connections' sockets (level-triggered), one <c>recv</c> per readable
/// event into a shared receive buffer, then the scheduler is drained on this same thread, which also sends the replies.
/// Other threads talk to the loop through <see cref="Post"/> (new sockets, aborts, closes), which wakes it through an
/// <c>eventfd</c>.
/// </summary>
internal sealed unsafe class EpollLoop : IDisposable
{
    private const int MaxEvents = 256;

    /// <summary>Bytes per receive into the shared buffer: a whole 64 KiB job body in one call.</summary>
    private const int ReceiveBufferSize = 128 * 1024;

    /// <summary>The epoll data of the wake-up eventfd; connection ids start at 1.</summary>
    private const ulong WakeToken = 0;

    private readonly int _eventFd;
    private readonly byte* _events;
    private readonly byte[] _receiveBuffer = GC.AllocateUninitializedArray<byte>(ReceiveBufferSize, pinned: true);
    private readonly Dictionary<int, EpollConnection> _connections = [];
    private readonly ConcurrentQueue<Action> _requests = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeSpan _stopTimeout;
    private int _wakePending;
    private bool _stopping;
    private long _stopDeadline;
    private int _freed;
    private int _connectionCount;
    private long _writableWaits;
    private long _bodiesReceivedInPlace;
    private long _resultsSentFromRequests;
    private bool _started;

    public EpollLoop(int index, JobScheduler scheduler, RequestFramer framer, GearmanServerOptions options, ILogger logger, TimeSpan stopTimeout)
    {
        Scheduler = scheduler;
        Framer = framer;
        Options = options;
        Logger = logger;
        MaxUnsentBytes = options.EffectiveMaxUnsentBytes;
        _stopTimeout = stopTimeout;
        EpollFd = EpollCreate(EpollCloexec);
        if (EpollFd < 0) throw new IOException($"epoll_create1 failed: errno {Marshal.GetLastPInvokeError()}");
        _eventFd = EventFd(0, EventFdNonBlock | EventFdCloexec);
        if (_eventFd < 0)
        {
            int error = Marshal.GetLastPInvokeError();
            _ = Close(EpollFd);
            throw new IOException($"eventfd failed: errno {error}");
        }

        _ = Control(EpollFd, EpollCtlAdd, _eventFd, EpollIn, WakeToken);
        _events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * EpollEventSize));
        Name = $"gearman-epoll-{index}";
        _thread = new Thread(Run) { IsBackground = true, Name = Name };
    }

    public string Name { get; }

    public JobScheduler Scheduler { get; }

    public RequestFramer Framer { get; }

    public GearmanServerOptions Options { get; }

    public ILogger Logger { get; }

    public int EpollFd { get; }

    /// <summary>See <see cref="GearmanServerOptions.MaxUnsentBytes"/>.</summary>
    public long MaxUnsentBytes { get; }

    /// <summary>Completes when the thread has exited (after <see cref="Stop"/>, once every connection is closed).</summary>
    public Task Exited => _exited.Task;

    /// <summary>Times a connection of this loop had to wait for its socket to become writable (for tests).</summary>
    public long WritableWaits => Interlocked.Read(ref _writableWaits);

    /// <summary>Large request bodies a connection of this loop received in place on a guess of their size (for tests).</summary>
    public long BodiesReceivedInPlace => Interlocked.Read(ref _bodiesReceivedInPlace);

    /// <summary>Worker results this loop's connections queued for sending from the worker's request buffer (for tests).</summary>
    public long ResultsSentFromRequests => Interlocked.Read(ref _resultsSentFromRequests);

    /// <summary>Open connections (for tests).</summary>
    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    public void Start()
    {
        _started = true;
        _thread.Start();
    }

    /// <summary>Runs <paramref name="request"/> on the loop thread soon; from any thread.</summary>
    public void Post(Action request)
    {
        _requests.Enqueue(request);
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            ulong one = 1;
            _ = Write(_eventFd, (byte*)&one, sizeof(ulong));
        }
    }

    /// <summary>Hands an accepted socket to this loop, from any thread.</summary>
    public void Adopt(Socket socket) => Post(() => AdoptNow(socket));

    /// <summary>
    /// Graceful stop, from any thread: every connection stops reading, its queued replies are sent, and it closes; the
    /// thread exits once all are closed, or after the stop timeout with whatever is left closed unsent.
    /// </summary>
    public void Stop() => Post(BeginStop);

    /// <summary>Called by a connection that arms <c>EPOLLOUT</c>, from any thread.</summary>
    public void OnWritableWait() => Interlocked.Increment(ref _writableWaits);

    /// <summary>Called by a connection whose guessed read took a large body in place.</summary>
    public void OnBodyReceivedInPlace() => Interlocked.Increment(ref _bodiesReceivedInPlace);

    /// <summary>Called by a connection that queued a relayed result to be sent from its request's buffer, from the scheduler.</summary>
    public void OnResultSentFromRequest() => Interlocked.Increment(ref _resultsSentFromRequests);

    /// <summary>Called by a connection that has closed its socket, from any thread.</summary>
    public void OnClosed(EpollConnection connection)
    {
        ServerLog.ConnectionClosed(Logger, connection.Peer.ToString());
        if (Environment.CurrentManagedThreadId == _thread.ManagedThreadId) Forget(connection);
        else Post(() => Forget(connection));
    }

    /// <summary>Frees the loop's resources if it never started; a started loop frees them when its thread exits.</summary>
    public void Dispose()
    {
        if (!_started) FreeResources();
    }

    private void Forget(EpollConnection connection)
    {
        if (_connections.Remove(connection.Id)) Volatile.Write(ref _connectionCount, _connections.Count);
    }

    private void AdoptNow(Socket socket)
    {
        if (_stopping)
        {
            socket.Dispose();
            return;
        }

        string remote;
        try
        {
            socket.NoDelay = true;
            var address = (socket.RemoteEndPoint as IPEndPoint)?.Address;
            if (address is { IsIPv4MappedToIPv6: true }) address = address.MapToIPv4();
            remote = address?.ToString() ?? "unknown";
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Reset before we got to it.
            socket.Dispose();
            return;
        }

        EpollConnection? connection = null;
        try
        {
            connection = new EpollConnection(this, socket, remote);
            _connections.Add(connection.Id, connection);
            Volatile.Write(ref _connectionCount, _connections.Count);
            ServerLog.ConnectionOpened(Logger, connection.Peer.ToString());
            connection.Start();
        }
        catch (Exception ex)
        {
            // Never leave an accepted socket open and unserved: its peer would wait forever.
            ServerLog.ConnectionFailed(Logger, ex, connection?.Peer.ToString() ?? remote);
            if (connection is null)
            {
                socket.Dispose();
                return;
            }

            try
            {
                connection.EndReading(0);
            }
            finally
            {
                connection.ForceClose();
            }
        }
    }

    private void BeginStop()
    {
        if (_stopping) return;
        _stopping = true;
        _stopDeadline = Stopwatch.GetTimestamp() + (long)(_stopTimeout.TotalSeconds * Stopwatch.Frequency);
        foreach (var connection in _connections.Values.ToArray()) connection.EndReading(0);
    }

    private void Run()
    {
        try
        {
            RunLoop();
        }
        catch (Exception ex)
        {
            ServerLog.EpollLoopFailed(Logger, ex, Name);
        }
        finally
        {
            foreach (var connection in _connections.Values.ToArray()) connection.ForceClose();
            FreeResources();
            _exited.TrySetResult();
        }
    }

    private void RunLoop()
    {
        int size = EpollEventSize;
        int dataOffset = EpollDataOffset;
        var receiveBuffer = _receiveBuffer;
        while (true)
        {
            if (_stopping && (_connections.Count == 0 || Stopwatch.GetTimestamp() > _stopDeadline)) return;
            int count = EpollWait(EpollFd, _events, MaxEvents, _stopping ? 50 : -1);
            if (count < 0)
            {
                int error = Marshal.GetLastPInvokeError();
                if (error == EIntr) continue;
                throw new IOException($"epoll_wait failed: errno {error}");
            }

            for (int i = 0; i < count; i++)
            {
                byte* ev = _events + (i * size);
                uint events = *(uint*)ev;
                ulong data = *(ulong*)(ev + dataOffset);
                if (data == WakeToken)
                {
                    RunRequests();
                }
                else if (_connections.TryGetValue((int)data, out var connection))
                {
                    connection.OnEvents(events, receiveBuffer);
                }
            }

            Scheduler.Drain();
        }
    }

    /// <remarks>
    /// The order matters: consume the eventfd first, then clear <c>_wakePending</c>, then take the requests. Clearing the
    /// flag first loses wake-ups: a post that sets the flag and writes the eventfd between the clear and the read has its
    /// write consumed here, and its request taken by this drain, leaving the flag set with the eventfd empty, so every
    /// later post skips its write and waits forever (seen once in ~110 server launches: new connections never adopted).
    /// With this order, a post that saw the flag set either wrote before the read (its request is already queued, so the
    /// drain below takes it) or finds the flag cleared and writes again.
    /// </remarks>
    private void RunRequests()
    {
        ulong value;
        _ = Read(_eventFd, (byte*)&value, sizeof(ulong));
        Interlocked.Exchange(ref _wakePending, 0); // a full fence: the dequeues below cannot move before it
        while (_requests.TryDequeue(out var request))
        {
            try
            {
                request();
            }
            catch (Exception ex)
            {
                ServerLog.EpollLoopFailed(Logger, ex, Name);
            }
        }
    }

    private void FreeResources()
    {
        if (Interlocked.Exchange(ref _freed, 1) != 0) return;
        _ = Close(_eventFd);
        _ = Close(EpollFd);
        NativeMemory.Free(_events);
        while (_requests.TryDequeue(out _))
        {
        }
    }
}
