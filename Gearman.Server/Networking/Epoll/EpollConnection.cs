using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Scheduling;
using static Gearman.Reactive.Connections.Transports.LinuxSockets;
using static Gearman.Server.Networking.Epoll.LinuxInterop;

namespace Gearman.Server.Networking.Epoll;

/// <summary>
/// One accepted socket on an <see cref="EpollLoop"/>. Reading belongs to the loop's thread: on a readable event one
/// <c>recv</c> fills the loop's shared receive buffer (or, while a request is unfinished, this connection's own carry
/// buffer, sized to the declared packet), and <see cref="RequestFramer"/> posts what it holds. When a read ends inside a
/// large request body (over <see cref="RequestBuffers.MaxPooledLength"/>), the rest of it is received straight into the
/// buffer the scheduler and the job will own instead: no carry buffer and no second copy. Sending is direct: any
/// thread that flushes (the loop thread after a read, a timer, the store writer) takes the outbox's batch under
/// <c>_sendLock</c> and writes it with a non-blocking <c>send</c>; what the kernel does not take waits in
/// <c>_unsent</c>, and <c>EPOLLOUT</c> is armed until it is gone.
/// </summary>
/// <remarks>
/// Lifetime: reading ends (end of stream, an error, a protocol violation, <see cref="Abort"/>, or the server stopping) →
/// the disconnect is posted, once, after the last request → the scheduler completes the outbox → the last flush sends
/// what is left and closes the socket. The socket is closed under <c>_sendLock</c>, so no send races the close.
/// </remarks>
internal sealed unsafe class EpollConnection
{
    /// <summary>The smallest carry buffer: a request split across reads is continued in one of these.</summary>
    private const int MinimumCarry = 64 * 1024;

    /// <summary>Free space kept in the carry buffer for each receive.</summary>
    private const int MinimumReceive = 16 * 1024;

    /// <summary>
    /// The smallest body worth receiving in place on a guess: below it, copying the body out of the shared buffer costs
    /// less than a wrong guess (an unused buffer and a copy of the whole read).
    /// </summary>
    internal const int PredictedBodyMinimum = 16 * 1024;

    /// <summary>
    /// The largest body guessed: a wrong guess allocates an array of that size before the data is there, and past the
    /// shared buffer's size a body mostly goes in place anyway (only its first read is copied).
    /// </summary>
    internal const int PredictedBodyMaximum = 1024 * 1024;

    private readonly EpollLoop _loop;
    private readonly Socket _socket;
    private readonly int _fd;
    private readonly Lock _sendLock = new();

    // Loop thread only.
    private byte[]? _carry;
    private int _carryLength;

    /// <summary>A large request's header while its body is received straight into <see cref="_body"/> (see <see cref="RequestFramer.TakesBodyDirectly"/>).</summary>
    private readonly byte[] _bodyHeader = new byte[PacketReader.HeaderLength];
    private byte[]? _body;
    private int _bodyFilled;

    /// <summary>
    /// The body size of the last large request this connection sent (from <see cref="PredictedBodyMinimum"/> to
    /// <see cref="PredictedBodyMaximum"/>), or 0:
    /// the next read scatters into a header, a buffer of that size and the shared buffer (see <see cref="ReceivePredicted"/>).
    /// </summary>
    private int _predictedBody;

    /// <summary>
    /// After a wrong guess (a worker sends a small GRAB_JOB between large results, say): the next reads first peek at
    /// the header instead of allocating a body on a guess, and receive a large body in place when the header shows one.
    /// </summary>
    private bool _peekFirst;

    /// <summary>Peeks in a row that found no large request; at <see cref="PeeksWithoutLargeRequest"/> the connection stops peeking.</summary>
    private int _peeksWithoutLarge;

    /// <summary>How many reads without a large request a connection peeks at before it reads plainly again.</summary>
    private const int PeeksWithoutLargeRequest = 8;

    /// <summary>Vectors per <c>sendmsg</c> (the kernel's limit, <c>IOV_MAX</c>, is 1024).</summary>
    private const int MaxSendVectors = 64;

    private bool _connectedPosted;
    private bool _readDone;

    // Under _sendLock.
    private PooledBufferWriter _spare = new();
    private byte[]? _unsent;
    private int _unsentStart;
    private int _unsentEnd;

    /// <summary><c>_unsentEnd - _unsentStart</c>, readable without the lock (by the outbound cap, see <see cref="PeerConnection.MaxUnsentBytes"/>).</summary>
    private long _unsentTotal;

    /// <summary>Lent bytes queued by <see cref="SendLent"/> to follow the outbox's bytes at each offset of the pending batch, in order.</summary>
    private List<LentData> _lent = [];
    private List<LentData> _lentSpare = [];

    /// <summary>Bytes in <see cref="_lent"/>, readable without the lock (they count towards the outbound cap).</summary>
    private long _lentTotal;
    private uint _interest;
    private bool _readOpen = true;
    private bool _aborted;
    private bool _closed;

    public EpollConnection(EpollLoop loop, Socket socket, string remoteAddress)
    {
        _loop = loop;
        _socket = socket;
        _fd = (int)socket.SafeHandle.DangerousGetHandle();
        Peer = new PeerConnection(PeerConnection.NextId(), remoteAddress, loop.Options.Exceptions, loop.Scheduler.FlushLater, Flush)
        {
            Abort = Abort,
            MaxUnsentBytes = loop.MaxUnsentBytes,
            TransportUnsent = () => Volatile.Read(ref _unsentTotal) + Volatile.Read(ref _lentTotal),
            SendWithLentData = SendLent,
            Logger = loop.Logger,
        };
    }

    public PeerConnection Peer { get; }

    public int Id => Peer.Id;

    /// <summary>Bytes handed to this connection and not yet taken by the kernel (for tests and diagnostics).</summary>
    public int UnsentBytes
    {
        get
        {
            lock (_sendLock) return _unsentEnd - _unsentStart;
        }
    }

    /// <summary>On the loop thread, once: registers the connection with the scheduler and starts reading.</summary>
    public void Start()
    {
        if (!Post(ServerCommand.ForConnected(Peer)))
        {
            EndReading(0);
            return;
        }

        _connectedPosted = true;
        _loop.Scheduler.Drain();
        lock (_sendLock)
        {
            if (!_closed) UpdateInterest();
        }
    }

    /// <summary>On the loop thread: what epoll reported for this socket. The caller drains the scheduler afterwards.</summary>
    public void OnEvents(uint events, byte[] receiveBuffer)
    {
        // The loop drains the scheduler once per batch of events: replies to every request read in the batch (pipelined
        // ones included) leave in one send per connection.
        if ((events & (EpollIn | EpollHup | EpollErr)) != 0 && !_readDone) Receive(receiveBuffer);

        if ((events & (EpollOut | EpollHup | EpollErr)) != 0) Flush();
    }

    /// <summary>
    /// On the loop thread: stops reading, then posts the disconnect after the last request (or completes the outbox if
    /// the scheduler has stopped). Replies still queued are flushed; the last flush closes the socket.
    /// </summary>
    /// <param name="unread">Bytes of an unfinished request left at the end of the stream, for the log.</param>
    public void EndReading(long unread)
    {
        if (_readDone) return;
        _readDone = true;
        if (unread > 0) _loop.Framer.ClosedInsideRequest(Peer, unread);
        ReleaseCarry();
        ReleaseBody();
        lock (_sendLock)
        {
            _readOpen = false;
            if (!_closed) UpdateInterest();
        }

        if (_connectedPosted && Post(ServerCommand.ForDisconnected(Peer)))
        {
            _loop.Scheduler.Drain();
        }
        else
        {
            Peer.Complete();
        }
    }

    /// <summary>
    /// Sends what the outbox has queued, from any thread, without blocking: what the kernel does not take now is kept
    /// and sent when the socket is writable. Closes the socket once the outbox is complete and everything is sent.
    /// </summary>
    public void Flush()
    {
        bool closed;
        lock (_sendLock)
        {
            if (_closed) return;
            if (_unsentEnd > _unsentStart && !_aborted) SendUnsent();

            var batch = Peer.Outbox.SwapPending(_spare, out bool completed);
            var lent = _lent;
            _lent = _lentSpare;
            Volatile.Write(ref _lentTotal, 0);
            if (batch.WrittenCount > 0 && !_aborted)
            {
                if (lent.Count > 0) SendGathered(batch.WrittenSpan, lent);
                else if (_unsentEnd > _unsentStart) Keep(batch.WrittenSpan);
                else SendOrKeep(batch.WrittenSpan);
            }

            // Sent, copied into _unsent, or dropped: no send reads the jobs' buffers any more.
            EndLends(lent);
            _lentSpare = lent;
            batch.Clear();
            _spare = batch;
            closed = completed && !_readOpen && (_aborted || _unsentEnd == _unsentStart);
            if (closed) CloseLocked();
            else UpdateInterest();
        }

        if (closed) _loop.OnClosed(this);
    }

    /// <summary>
    /// Closes at once, from any thread (the scheduler's <see cref="PeerConnection.Abort"/>): queued replies are dropped,
    /// both directions are shut down, and the loop ends reading, which reports the disconnect.
    /// </summary>
    public void Abort()
    {
        lock (_sendLock)
        {
            if (_closed || _aborted) return;
            AbortLocked();
        }

        _loop.Post(() => EndReading(0));
    }

    /// <summary>On the loop thread when it stops: closes whatever is still open, sent or not.</summary>
    public void ForceClose()
    {
        ReleaseBody();
        lock (_sendLock)
        {
            if (_closed) return;
            CloseLocked();
        }

        _loop.OnClosed(this);
    }

    private void Receive(byte[] shared)
    {
        if (_body is not null)
        {
            ReceiveBody();
            return;
        }

        if (_predictedBody > 0 && _carry is null)
        {
            ReceivePredicted(shared);
            return;
        }

        ReceiveShared(shared);
    }

    /// <summary>
    /// A read at a request boundary on a connection whose last large request had a body of <see cref="_predictedBody"/>
    /// bytes (a client submitting payloads of one size, a worker returning results of one size): one <c>recvmsg</c>
    /// scatters into the header buffer, a fresh body buffer of that size and the shared buffer. When the header declares
    /// that size, the body is already where the job will keep it: no copy. Otherwise the read is put back together in
    /// one buffer and framed as usual, and from then on the connection peeks at each header before it allocates
    /// (<see cref="_peekFirst"/>), receiving a large body of any guessable size in place.
    /// </summary>
    private void ReceivePredicted(byte[] shared)
    {
        int size = _predictedBody;
        if (_peekFirst)
        {
            nint peeked;
            fixed (byte* header = _bodyHeader)
            {
                peeked = Recv(_fd, header, PacketReader.HeaderLength, MsgPeek | MsgDontWait);
            }

            if (peeked < PacketReader.HeaderLength || !_loop.Framer.TakesBodyDirectly(_bodyHeader, out size) || !IsGuessable(size))
            {
                if (++_peeksWithoutLarge >= PeeksWithoutLargeRequest) StopGuessing();
                ReceiveShared(shared);
                return;
            }

            _peeksWithoutLarge = 0;
        }

        var body = RequestBuffers.Rent(size);
        var vectors = stackalloc IoVector[3];
        nint received;
        fixed (byte* header = _bodyHeader)
        {
            fixed (byte* b = body)
            {
                fixed (byte* rest = shared)
                {
                    vectors[0] = new IoVector(header, PacketReader.HeaderLength);
                    vectors[1] = new IoVector(b, (nuint)body.Length);
                    vectors[2] = new IoVector(rest, (nuint)shared.Length);
                    var message = new MessageHeader { Vectors = vectors, VectorCount = 3 };
                    received = ReceiveMessage(_fd, &message, MsgDontWait);
                }
            }
        }

        if (received <= 0)
        {
            RequestBuffers.Return(body);
            EndReadingAfter(received, 0);
            return;
        }

        int length = (int)received;
        if (length >= PacketReader.HeaderLength
            && _loop.Framer.TakesBodyDirectly(_bodyHeader, out int declared)
            && declared == body.Length)
        {
            _loop.OnBodyReceivedInPlace();
            int inBody = Math.Min(length - PacketReader.HeaderLength, body.Length);
            if (inBody < body.Length)
            {
                // The rest of the body follows straight into it, as for a body a read ended inside (ReceiveBody).
                _body = body;
                _bodyFilled = inBody;
                return;
            }

            var status = _loop.Framer.PostReceivedBody(Peer, _bodyHeader, body, out var posted);
            if ((!posted.IsCompletedSuccessfully && !Wait(posted)) || status == FrameStatus.Close)
            {
                EndReading(0);
                return;
            }

            int following = length - PacketReader.HeaderLength - body.Length;
            if (following > 0) FrameReceived(shared, following);
            return;
        }

        // A different request: the bytes are, in order, in the header buffer, the body buffer and the shared buffer.
        // (Not after a peek: a peeked large header is what the read returns.) From now on, peek before allocating.
        _peekFirst = true;
        var whole = ArrayPool<byte>.Shared.Rent(length);
        int fromHeader = Math.Min(length, PacketReader.HeaderLength);
        int fromBody = Math.Min(length - fromHeader, body.Length);
        _bodyHeader.AsSpan(0, fromHeader).CopyTo(whole);
        body.AsSpan(0, fromBody).CopyTo(whole.AsSpan(fromHeader));
        shared.AsSpan(0, length - fromHeader - fromBody).CopyTo(whole.AsSpan(fromHeader + fromBody));
        RequestBuffers.Return(body);
        FrameReceived(whole, length);
        ArrayPool<byte>.Shared.Return(whole);
    }

    /// <summary>After a <c>recv</c> that returned <paramref name="received"/> (0 or less): ends reading unless it was EAGAIN or EINTR.</summary>
    private void EndReadingAfter(nint received, long unread)
    {
        if (received < 0)
        {
            int error = Marshal.GetLastPInvokeError();
            if (error is EAgain or EIntr) return;
            EndReading(0);
        }
        else
        {
            // The end of the stream (or a half-close): every request before it has been posted.
            EndReading(unread);
        }
    }

    private void ReceiveShared(byte[] shared)
    {
        byte[] buffer;
        int offset;
        if (_carry is null)
        {
            buffer = shared;
            offset = 0;
        }
        else
        {
            EnsureCarryRoom();
            buffer = _carry;
            offset = _carryLength;
        }

        nint received;
        fixed (byte* p = buffer)
        {
            received = Recv(_fd, p + offset, (nuint)(buffer.Length - offset), MsgDontWait);
        }

        if (received <= 0)
        {
            EndReadingAfter(received, _carryLength);
            return;
        }

        FrameReceived(buffer, offset + (int)received);
    }

    /// <summary>Posts every whole request in <paramref name="buffer"/>'s first <paramref name="length"/> bytes and keeps the unfinished rest.</summary>
    private void FrameReceived(byte[] buffer, int length)
    {
        var sequence = new ReadOnlySequence<byte>(buffer, 0, length);
        var rest = sequence;
        while (!rest.IsEmpty)
        {
            // A large request that arrived whole: the next read guesses one of its size (ReceivePredicted).
            int start = length - (int)rest.Length;
            if (rest.Length >= PacketReader.HeaderLength
                && _loop.Framer.TakesBodyDirectly(buffer.AsSpan(start, PacketReader.HeaderLength), out int large)
                && IsGuessable(large)
                && rest.Length - PacketReader.HeaderLength >= large)
            {
                _predictedBody = large;
            }

            var status = _loop.Framer.PostNext(Peer, ref rest, out var posted);
            if (!posted.IsCompletedSuccessfully && !Wait(posted))
            {
                EndReading(0);
                return;
            }

            if (status == FrameStatus.Incomplete) break;
            if (status == FrameStatus.Close)
            {
                EndReading(0);
                return;
            }
        }

        int left = (int)rest.Length;
        if (left >= PacketReader.HeaderLength
            && _loop.Framer.TakesBodyDirectly(buffer.AsSpan(length - left, PacketReader.HeaderLength), out int bodyLength))
        {
            // A large body continues straight into the buffer the job will own: no carry buffer, no second copy.
            buffer.AsSpan(length - left, PacketReader.HeaderLength).CopyTo(_bodyHeader);
            _body = RequestBuffers.Rent(bodyLength);
            _bodyFilled = left - PacketReader.HeaderLength;
            buffer.AsSpan(length - _bodyFilled, _bodyFilled).CopyTo(_body);
            ReleaseCarry();
        }
        else if (left == 0)
        {
            ReleaseCarry();
        }
        else if (_carry is null)
        {
            _carry = ArrayPool<byte>.Shared.Rent(Math.Max(left, MinimumCarry));
            buffer.AsSpan(length - left, left).CopyTo(_carry);
            _carryLength = left;
        }
        else
        {
            if (left != length) _carry.AsSpan(length - left, left).CopyTo(_carry);
            _carryLength = left;
        }
    }

    private static bool IsGuessable(int bodyLength) => bodyLength is >= PredictedBodyMinimum and <= PredictedBodyMaximum;

    private void StopGuessing()
    {
        _predictedBody = 0;
        _peekFirst = false;
        _peeksWithoutLarge = 0;
    }

    /// <summary>Receives the rest of a large body, never past its end, and posts the request once it is whole.</summary>
    private void ReceiveBody()
    {
        var body = _body!;
        nint received;
        fixed (byte* p = body)
        {
            received = Recv(_fd, p + _bodyFilled, (nuint)(body.Length - _bodyFilled), MsgDontWait);
        }

        if (received <= 0)
        {
            EndReadingAfter(received, PacketReader.HeaderLength + _bodyFilled);
            return;
        }

        _bodyFilled += (int)received;
        if (_bodyFilled < body.Length) return;

        // The scheduler owns the body from here (or the framer has returned it).
        _body = null;
        _bodyFilled = 0;
        if (IsGuessable(body.Length)) _predictedBody = body.Length;
        var status = _loop.Framer.PostReceivedBody(Peer, _bodyHeader, body, out var posted);
        if ((!posted.IsCompletedSuccessfully && !Wait(posted)) || status == FrameStatus.Close) EndReading(0);
    }

    /// <summary>Grows the carry buffer to hold the whole request it has begun (a declared packet size is known after 12 bytes).</summary>
    private void EnsureCarryRoom()
    {
        long needed = (long)_carryLength + MinimumReceive;

        // The framer has checked the declared size against --max-packet-size already.
        if (PacketReader.FrameLength(_carry.AsSpan(0, _carryLength)) is { } frame) needed = Math.Max(needed, frame);

        if (_carry!.Length >= needed) return;
        var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(Math.Max(needed, MinimumCarry), Array.MaxLength));
        _carry.AsSpan(0, _carryLength).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_carry);
        _carry = bigger;
    }

    private void ReleaseCarry()
    {
        if (_carry is { } carry)
        {
            _carry = null;
            ArrayPool<byte>.Shared.Return(carry);
        }

        _carryLength = 0;
    }

    /// <summary>Drops a large body that was still being received (the connection stops reading).</summary>
    private void ReleaseBody()
    {
        if (_body is { } body)
        {
            _body = null;
            RequestBuffers.Return(body);
        }

        _bodyFilled = 0;
    }

    /// <returns>False when the scheduler has stopped.</returns>
    private bool Post(in ServerCommand command)
    {
        ValueTask posted;
        try
        {
            posted = _loop.Scheduler.PostAsync(command);
        }
        catch (ChannelClosedException)
        {
            return false;
        }

        return posted.IsCompletedSuccessfully || Wait(posted);
    }

    /// <summary>
    /// Blocks the loop thread until a post that found the scheduler's queue full is in. Safe: the thread that drains the
    /// queue never waits for this one (sends are direct and never block).
    /// </summary>
    /// <returns>False when the scheduler has stopped.</returns>
    private static bool Wait(ValueTask posted)
    {
        try
        {
#pragma warning disable VSTHRD002 // A dedicated I/O thread with no synchronization context; see the summary.
            posted.AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
            return true;
        }
        catch (Exception ex) when (ex is ChannelClosedException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// From the scheduler (see <see cref="PeerConnection.SendWithLentData"/>): queues <paramref name="prefix"/> in the outbox
    /// and notes that <paramref name="owner"/>'s bytes follow it, so the flush sends them from where they are.
    /// </summary>
    private bool SendLent(ReadOnlySpan<byte> prefix, ILentBuffer owner)
    {
        lock (_sendLock)
        {
            if (_closed || _aborted) return false;

            // Under the lock no flush can take the pending batch between the write and the note of where the data goes.
            int offset = Peer.Outbox.PendingBytes + prefix.Length;
            if (!Peer.Outbox.SendRaw(prefix)) return false;
            var data = owner.Lend();
            _lent.Add(new LentData(offset, data, owner));
            Volatile.Write(ref _lentTotal, _lentTotal + data.Count);
            if (owner is RelayedBody) _loop.OnResultSentFromRequest();
            return true;
        }
    }

    /// <summary>
    /// Sends a batch with lent bytes between its bytes: the stretches of the batch and the lent pieces after them as the
    /// vectors of one <c>sendmsg</c> (up to <see cref="MaxSendVectors"/> at a time), so lending never costs more calls
    /// than a copy into the outbox would; from the first piece the kernel does not take fully, the rest is copied into
    /// <c>_unsent</c> in order.
    /// </summary>
    private void SendGathered(ReadOnlySpan<byte> batch, List<LentData> lent)
    {
        var pins = ArrayPool<GCHandle>.Shared.Rent(lent.Count);
        try
        {
            for (int i = 0; i < lent.Count; i++) pins[i] = GCHandle.Alloc(lent[i].Data.Array, GCHandleType.Pinned);
            fixed (byte* batchStart = batch)
            {
                int capacity = (2 * lent.Count) + 1;
                Span<IoVector> vectors = capacity <= MaxSendVectors ? stackalloc IoVector[capacity] : new IoVector[capacity];
                int count = 0;
                int at = 0;
                for (int i = 0; i < lent.Count; i++)
                {
                    var piece = lent[i];
                    if (piece.Offset > at) vectors[count++] = new IoVector(batchStart + at, (nuint)(piece.Offset - at));
                    if (piece.Data.Count > 0)
                    {
                        byte* data = (byte*)pins[i].AddrOfPinnedObject() + piece.Data.Offset;
                        vectors[count++] = new IoVector(data, (nuint)piece.Data.Count);
                    }

                    at = piece.Offset;
                }

                if (batch.Length > at) vectors[count++] = new IoVector(batchStart + at, (nuint)(batch.Length - at));
                SendVectorsOrKeep(vectors[..count]);
            }
        }
        finally
        {
            for (int i = 0; i < lent.Count; i++)
            {
                if (pins[i].IsAllocated) pins[i].Free();
            }

            ArrayPool<GCHandle>.Shared.Return(pins, clearArray: true);
        }
    }

    /// <summary>
    /// Non-blocking <c>sendmsg</c> of <paramref name="vectors"/> until the kernel takes no more; what it leaves is kept in
    /// order. While earlier bytes still wait in <c>_unsent</c>, nothing is sent: everything goes behind them.
    /// </summary>
    private void SendVectorsOrKeep(Span<IoVector> vectors)
    {
        var message = default(MessageHeader);
        int first = 0;
        nuint skip = 0; // bytes of vectors[first] already sent
        while (first < vectors.Length && _unsentEnd == _unsentStart)
        {
            int count = Math.Min(vectors.Length - first, MaxSendVectors);
            var chunk = vectors.Slice(first, count);
            var head = chunk[0];
            chunk[0] = new IoVector(head.Start + skip, head.Length - skip);
            nint n;
            fixed (IoVector* v = chunk)
            {
                message.Vectors = v;
                message.VectorCount = (nuint)count;
                n = SendMessage(_fd, &message, MsgDontWait | MsgNoSignal);
            }

            chunk[0] = head;
            if (n < 0)
            {
                int error = Marshal.GetLastPInvokeError();
                if (error == EIntr) continue;
                if (error != EAgain)
                {
                    // The peer is gone: its reader sees it too and reports the disconnect.
                    AbortLocked();
                    return;
                }

                break;
            }

            if (n == 0) break;

            // Advance past what the kernel took.
            nuint taken = (nuint)n;
            while (first < vectors.Length && taken >= vectors[first].Length - skip)
            {
                taken -= vectors[first].Length - skip;
                skip = 0;
                first++;
            }

            skip += taken;
        }

        for (int i = first; i < vectors.Length && !_aborted; i++)
        {
            Keep(new ReadOnlySpan<byte>(vectors[i].Start + skip, (int)(vectors[i].Length - skip)));
            skip = 0;
        }
    }

    /// <summary>Non-blocking writes of <paramref name="bytes"/> (<c>sendmsg</c>), until the kernel takes no more.</summary>
    /// <returns>Bytes the kernel took, or -1 after a send error (the connection is then aborted).</returns>
    private int SendSome(ReadOnlySpan<byte> bytes)
    {
        int sent = 0;
        var vector = default(IoVector);
        var message = default(MessageHeader);
        fixed (byte* start = bytes)
        {
            while (sent < bytes.Length)
            {
                vector = new IoVector(start + sent, (nuint)(bytes.Length - sent));
                message.Vectors = &vector;
                message.VectorCount = 1;
                nint n = SendMessage(_fd, &message, MsgDontWait | MsgNoSignal);
                if (n > 0)
                {
                    sent += (int)n;
                    continue;
                }

                int error = Marshal.GetLastPInvokeError();
                if (n < 0 && error == EIntr) continue;
                if (n < 0 && error == EAgain) break;

                // The peer is gone: its reader sees it too and reports the disconnect.
                AbortLocked();
                return -1;
            }
        }

        return sent;
    }

    private static void EndLends(List<LentData> lent)
    {
        foreach (var piece in lent) piece.Owner.EndLend();
        lent.Clear();
    }

    private void SendUnsent()
    {
        int sent = SendSome(_unsent.AsSpan(_unsentStart, _unsentEnd - _unsentStart));
        if (sent < 0) return;
        _unsentStart += sent;
        if (_unsentStart == _unsentEnd)
        {
            ArrayPool<byte>.Shared.Return(_unsent!);
            _unsent = null;
            _unsentStart = _unsentEnd = 0;
        }

        Volatile.Write(ref _unsentTotal, _unsentEnd - _unsentStart);
    }

    private void SendOrKeep(ReadOnlySpan<byte> bytes)
    {
        int sent = SendSome(bytes);
        if (sent >= 0 && sent < bytes.Length) Keep(bytes[sent..]);
    }

    /// <summary>Keeps bytes the kernel did not take, unless that would exceed the outbound cap.</summary>
    private void Keep(ReadOnlySpan<byte> bytes)
    {
        long unsent = (long)_unsentEnd - _unsentStart + bytes.Length;
        long limit = _loop.MaxUnsentBytes;
        if (unsent > limit)
        {
            ServerLog.UnsentLimitExceeded(_loop.Logger, Peer.ToString(), unsent, limit);
            AbortLocked();
            return;
        }

        if (_unsent is null)
        {
            _unsent = ArrayPool<byte>.Shared.Rent(Math.Max(bytes.Length, MinimumCarry));
        }
        else if (_unsent.Length - _unsentEnd < bytes.Length)
        {
            int count = _unsentEnd - _unsentStart;
            var target = _unsent.Length >= count + bytes.Length ? _unsent : ArrayPool<byte>.Shared.Rent((int)Math.Min(Math.Max(2L * _unsent.Length, count + bytes.Length), Array.MaxLength));
            _unsent.AsSpan(_unsentStart, count).CopyTo(target);
            if (target != _unsent) ArrayPool<byte>.Shared.Return(_unsent);
            _unsent = target;
            _unsentStart = 0;
            _unsentEnd = count;
        }

        bytes.CopyTo(_unsent.AsSpan(_unsentEnd));
        _unsentEnd += bytes.Length;
        Volatile.Write(ref _unsentTotal, _unsentEnd - _unsentStart);
    }

    private void AbortLocked()
    {
        _aborted = true;
        DropUnsent();
        Shutdown(_fd, ShutReadWrite);
    }

    private void DropUnsent()
    {
        if (_unsent is { } unsent) ArrayPool<byte>.Shared.Return(unsent);
        _unsent = null;
        _unsentStart = _unsentEnd = 0;
        Volatile.Write(ref _unsentTotal, 0);
    }

    /// <summary>Keeps epoll's interest in line: readable while reading, writable while bytes wait; unregistered when neither.</summary>
    private void UpdateInterest()
    {
        uint wanted = (_readOpen ? EpollIn : 0) | (_unsentEnd > _unsentStart ? EpollOut : 0);
        if (wanted == _interest) return;
        int op = wanted == 0 ? EpollCtlDel : _interest == 0 ? EpollCtlAdd : EpollCtlMod;
        Control(_loop.EpollFd, op, _fd, wanted, (ulong)(uint)Id);
        if ((wanted & ~_interest & EpollOut) != 0) _loop.OnWritableWait();
        _interest = wanted;
    }

    private void CloseLocked()
    {
        _closed = true;
        _readOpen = false;
        DropUnsent();
        EndLends(_lent);
        Volatile.Write(ref _lentTotal, 0);
        UpdateInterest();
        _socket.Dispose();
        _spare.Dispose();
        Peer.Outbox.Dispose();
    }
}

/// <summary>Lent bytes (job data, a relayed result) that follow the pending batch's bytes up to <see cref="Offset"/>; <see cref="Owner"/> lent them.</summary>
internal readonly record struct LentData(int Offset, ArraySegment<byte> Data, ILentBuffer Owner);
