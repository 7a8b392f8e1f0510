using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static Gearman.Reactive.Connections.Transports.LinuxSockets;

namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// The Linux transport for plaintext connections, built so that a packet costs no thread-pool hand-over. A thread of the
/// connection's own waits in a blocking <c>recv</c>, frames what arrives in place and hands packets to the handler on
/// that thread; a send is written by the thread that sends, with a non-blocking <c>send</c>, so a request or a result
/// leaves without waking anyone. Only when the kernel's send buffer is full does the rest of a batch go to a dedicated
/// thread that waits in a blocking <c>send</c> (a server that reads slowly, or large payloads), while later packets
/// queue in the outbox behind it, bounded by its high-water mark.
/// </summary>
/// <remarks>
/// <para>
/// The socket is connected without .NET's asynchronous socket engine (a non-blocking connect and a poll), so the engine
/// never registers it and its epoll thread is not woken by this connection's traffic; the descriptor is then made
/// blocking and used only through <see cref="LinuxSockets"/>. The socket's handle is referenced for the transport's
/// whole life, so the descriptor cannot be closed and reused while a thread is still in a call on it.
/// </para>
/// <para>
/// One reader thread per connection is what libgearman does too (its calls block the caller's thread). It suits the
/// SDK's shape, a few long-lived connections per client or worker; <see cref="TransportKind.Portable"/> (or the
/// <c>Gearman.Reactive.UsePortableTransport</c> switch) selects the thread-pool transport instead.
/// </para>
/// </remarks>
internal sealed class SocketThreadTransport : ConnectionTransport, IBatchWriter
{
    /// <summary>The receive buffer; a packet longer than this is read into one sized for it, then this one is used again.</summary>
    private const int ReceiveBufferSize = 64 * 1024;

    /// <summary>The <see cref="AppContext"/> setting (an integer, 0 turns polling off) that overrides <see cref="DefaultSpinMicroseconds"/>.</summary>
    public const string SpinMicrosecondsSetting = "Gearman.Reactive.ReaderSpinMicroseconds";

    /// <summary>
    /// How long a reader polls for the next bytes before it blocks: by default not at all. Measured with the JIT out of
    /// the window (docs/benchmarks.md, "Blocking at once by default"): a 150 µs poll gave 1.2-1.6x libgearman's fg-1x1
    /// rate at 1.4-1.6x its CPU per job; without it the SDK met libgearman's rate and CPU in 14 of 16 scenario rows,
    /// against 9 with it. The poll is the CPU spent waiting for the peer, so it is for a process that asks for it.
    /// </summary>
    public const int DefaultSpinMicroseconds = 0;

    private static readonly long ConfiguredSpinTicks = SpinMicroseconds() * Stopwatch.Frequency / 1_000_000;

    private readonly Socket _socket;
    private readonly int _fd;
    private readonly TaskCompletionSource _readLoop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _writeLoop = Task.CompletedTask;
    private bool _handleReferenced;
    private int _released;
    private GearmanConnection? _connection;
    private PacketFramer? _framer;

    // The reader's state, in fields rather than locals so that a new reader thread can carry on where a taken-over one
    // stopped (between two reads: the buffer holds only bytes not yet consumed).
    private byte[] _buffer = [];
    private int _start; // unconsumed bytes are _buffer[_start.._end]
    private int _end;

    /// <summary>The reader's generation (which thread owns the reading) times two, plus one while it runs delivered work.</summary>
    private long _readerState;
    private long _deliveringSince;
    private ReaderDelivery? _delivering;

    // The poll: the process's setting, changeable per transport by tests; the counters are the reader's alone.
    private long _spinTicks = ConfiguredSpinTicks;
    private long _polledReads;
    private long _expiredPolls;

    private SocketThreadTransport(Socket socket)
    {
        _socket = socket;
        socket.SafeHandle.DangerousAddRef(ref _handleReferenced);
        _fd = (int)socket.SafeHandle.DangerousGetHandle();
    }

    /// <summary>Whether this transport can run here (see <see cref="LinuxSockets.IsSupported"/>).</summary>
    public static bool IsSupported => LinuxSockets.IsSupported;

    public override Task ReadLoop => _readLoop.Task;

    public override Task WriteLoop => _writeLoop;

    /// <summary>The socket's descriptor (for tests).</summary>
    internal int Descriptor => _fd;

    /// <summary>Reads that found bytes while polling (for tests; counted only while a poll is set).</summary>
    internal long PolledReads => Volatile.Read(ref _polledReads);

    /// <summary>Polls that ran out before bytes came, so that the reader blocked (for tests; as <see cref="PolledReads"/>).</summary>
    internal long ExpiredPolls => Volatile.Read(ref _expiredPolls);

    /// <summary>Sets this transport's poll, taking effect from the reader's next read (for tests: the setting is read once per process).</summary>
    internal void SetPollForTests(TimeSpan poll) => Volatile.Write(ref _spinTicks, (long)(poll.TotalSeconds * Stopwatch.Frequency));

    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/>, trying each address it resolves to in turn.</summary>
    /// <exception cref="SocketException">No address accepted the connection.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired (the caller's timeout too).</exception>
    public static async Task<SocketThreadTransport> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0) throw new SocketException((int)SocketError.HostNotFound);

        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false };
            try
            {
                await ConnectNonBlockingAsync(socket, new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
                int error = MakeBlocking((int)socket.SafeHandle.DangerousGetHandle());
                if (error != 0) throw new SocketException(error, Marshal.GetPInvokeErrorMessage(error));
                return new SocketThreadTransport(socket);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last!;
    }

    public override void Start(GearmanConnection connection, PacketFramer framer)
    {
        _connection = connection;
        _framer = framer;
        _buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
        ReaderWatchdog.Watch(this);
        StartReader(generation: 0);
        _writeLoop = Task.Run(() => WriteLoopAsync(connection, this));
    }

    /// <summary>Whether the reader is running delivered work (the watchdog asks).</summary>
    internal bool IsDelivering => (Volatile.Read(ref _readerState) & 1) == 1;

    /// <summary>Whether the reader has been running delivered work since before <paramref name="tick"/> (the watchdog asks).</summary>
    internal bool IsDeliveringSince(long tick)
        => IsDelivering && Volatile.Read(ref _deliveringSince) < tick;

    /// <summary>
    /// Moves the reading to a new thread while the current one is still running delivered work; false when that work
    /// ended in the meantime (the reader carries on by itself).
    /// </summary>
    internal bool TryTakeOver()
    {
        long state = Volatile.Read(ref _readerState);
        if ((state & 1) == 0) return false;
        long next = (state & ~1L) + 2;
        if (Interlocked.CompareExchange(ref _readerState, next, state) != state) return false;
        ReaderWatchdog.CountTakeover();
        _delivering?.HandOverRemaining();
        StartReader(next >> 1);
        return true;
    }

    public override void Shutdown() => ShutdownQuietly(_socket);

    /// <summary>Ends the socket now; it is closed once no thread is in a call on its descriptor any more.</summary>
    public override void Abort()
    {
        Shutdown();
        _ = Task.WhenAll(ReadLoop, WriteLoop).ContinueWith(
            static (_, state) => ((SocketThreadTransport)state!).Release(), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public override ValueTask DisposeAsync()
    {
        Release();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Writes a batch on the calling thread with a non-blocking <c>send</c>; what the kernel does not take at once is
    /// written by a dedicated thread in a blocking <c>send</c>, and the returned task completes when it has.
    /// </summary>
    public ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken)
    {
        int sent = Send(batch.Span, wait: false);
        return sent == batch.Length ? new(true) : new(SendBlockingAsync(batch[sent..]));
    }

    private static async Task ConnectNonBlockingAsync(Socket socket, IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        try
        {
            socket.Connect(endpoint);
            return;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
        }

        // Polled in slices, so that cancellation (the connect timeout) is seen without the engine's help.
        await Task.Run(
            () =>
            {
                while (!socket.Poll(TimeSpan.FromMilliseconds(50), SelectMode.SelectWrite))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
            },
            cancellationToken).ConfigureAwait(false);

        var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        if (error != SocketError.Success) throw new SocketException((int)error);
    }

    private void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0) return;
        if (_handleReferenced) _socket.SafeHandle.DangerousRelease();
        _socket.Dispose();
    }

    private static IOException Failed(string what, int errno) => new($"{what} failed: {Marshal.GetPInvokeErrorMessage(errno)}");

    private Task<bool> SendBlockingAsync(ReadOnlyMemory<byte> rest) => Task.Factory.StartNew(
        static state =>
        {
            var (self, bytes) = ((SocketThreadTransport, ReadOnlyMemory<byte>))state!;
            self.Send(bytes.Span, wait: true);
            return true;
        },
        (this, rest),
        CancellationToken.None,
        TaskCreationOptions.LongRunning,
        TaskScheduler.Default);

    /// <summary>
    /// Sends <paramref name="bytes"/>: all of them, waiting for room (<paramref name="wait"/>), or what the kernel takes
    /// at once. Returns how many were sent.
    /// </summary>
    private unsafe int Send(ReadOnlySpan<byte> bytes, bool wait)
    {
        int flags = wait ? MsgNoSignal : MsgDontWait | MsgNoSignal;
        int sent = 0;
        fixed (byte* start = bytes)
        {
            while (sent < bytes.Length)
            {
                nint n = LinuxSockets.Send(_fd, start + sent, (nuint)(bytes.Length - sent), flags);
                if (n >= 0)
                {
                    sent += (int)n;
                    continue;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr) continue;
                if (errno == EAgain && !wait) break;
                throw Failed("send", errno);
            }
        }

        return sent;
    }

    private void StartReader(long generation)
    {
        var reader = new Thread(static state =>
        {
            var (self, generation) = ((SocketThreadTransport, long))state!;
            self.Receive(generation);
        })
        {
            IsBackground = true,
            Name = $"Gearman reader {_connection!.Endpoint}",
        };

        // UnsafeStart: the reader must not keep the AsyncLocals (an Activity, say) of whoever happened to connect.
        reader.UnsafeStart((this, generation));
    }

    private unsafe void Receive(long generation)
    {
        var connection = _connection!;
        var framer = _framer!;
        long reading = generation * 2;
        var delivery = new ReaderDelivery(); // this thread's own: a taken-over reader may still be running its last one
        Exception? error = null;
        try
        {
            while (true)
            {
                if (_end == _buffer.Length)
                {
                    // Full: BytesWanted below made room for a whole packet, so what starts the buffer was consumed.
                    if (_start == 0) throw new InvalidOperationException("The receive buffer is full and holds no whole packet.");
                    Compact();
                }

                nint n;
                fixed (byte* free = &_buffer[_end])
                {
                    n = ReceiveSoonOrWait(free, (nuint)(_buffer.Length - _end));
                }

                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == EIntr) continue;
                    throw Failed("recv", errno);
                }

                if (n == 0)
                {
                    error = connection.EndOfStream(midPacket: _end > _start);
                    break;
                }

                _end += (int)n;
                var unconsumed = new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
                using (delivery.Collect())
                {
                    framer.Consume(ref unconsumed);
                }

                _start = _end - (int)unconsumed.Length;
                MakeRoom(framer);
                if (!delivery.HasWork) continue;

                _delivering = delivery;
                Volatile.Write(ref _deliveringSince, Environment.TickCount64);
                Interlocked.Exchange(ref _readerState, reading + 1); // a full fence: see ReaderWatchdog.DeliveryStarted
                ReaderWatchdog.DeliveryStarted();
                delivery.Run();
                if (Interlocked.CompareExchange(ref _readerState, reading, reading + 1) != reading + 1)
                {
                    return; // taken over while the work ran: the new reader owns the connection now
                }
            }
        }
        catch (Exception ex)
        {
            error = connection.ReadError(ex);
        }

        ReaderWatchdog.Unwatch(this);
        ReturnBuffer(_buffer);
        _buffer = [];
        connection.ReadEnded(error);
        _readLoop.TrySetResult();
    }

    /// <summary>The poll time: <see cref="SpinMicrosecondsSetting"/> if set to a non-negative integer, else the default.</summary>
    internal static int SpinMicroseconds()
        => AppContext.GetData(SpinMicrosecondsSetting) is { } value
           && int.TryParse(value.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int us)
            ? us
            : DefaultSpinMicroseconds;

    /// <summary>
    /// A <c>recv</c> that first polls for up to <see cref="SpinMicroseconds"/> (yielding the CPU between polls) before it
    /// blocks: a reply that arrives within that time is read without the thread going to sleep and being woken again,
    /// which on a virtual machine costs more than the poll.
    /// </summary>
    private unsafe nint ReceiveSoonOrWait(byte* free, nuint length)
    {
        long spinTicks = Volatile.Read(ref _spinTicks);
        if (spinTicks > 0)
        {
            long deadline = Stopwatch.GetTimestamp() + spinTicks;
            do
            {
                nint n = Recv(_fd, free, length, MsgDontWait);
                if (n >= 0)
                {
                    Volatile.Write(ref _polledReads, _polledReads + 1);
                    return n;
                }

                if (Marshal.GetLastPInvokeError() is not (EAgain or EIntr)) return n;
                Thread.Yield();
            }
            while (Stopwatch.GetTimestamp() < deadline);

            Volatile.Write(ref _expiredPolls, _expiredPolls + 1);
        }

        return Recv(_fd, free, length, 0);
    }

    /// <summary>After the packets of a read were handled: leaves room in the buffer for the rest of the next packet.</summary>
    private void MakeRoom(PacketFramer framer)
    {
        if (_start == _end)
        {
            _start = _end = 0;
            if (_buffer.Length != ReceiveBufferSize) Resize(ReceiveBufferSize);
            return;
        }

        long wanted = framer.BytesWanted(_buffer.AsSpan(_start, _end - _start));
        if (wanted <= _buffer.Length - _start) return;
        if (wanted <= _buffer.Length) Compact();
        else Resize((int)wanted);
    }

    private void Compact()
    {
        _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
        _end -= _start;
        _start = 0;
    }

    /// <summary>Moves the unconsumed bytes to the start of a buffer of <paramref name="size"/> bytes; the old one is given back.</summary>
    private void Resize(int size)
    {
        // The usual size comes from the pool; a larger one is sized to its packet and left to the GC, as the pool would round it up.
        byte[] resized = size == ReceiveBufferSize ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);
        _buffer.AsSpan(_start, _end - _start).CopyTo(resized);
        ReturnBuffer(_buffer);
        _buffer = resized;
        _end -= _start;
        _start = 0;
    }

    private static void ReturnBuffer(byte[] buffer)
    {
        if (buffer.Length == ReceiveBufferSize) ArrayPool<byte>.Shared.Return(buffer);
    }
}
