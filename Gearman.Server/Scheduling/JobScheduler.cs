using System.Text;
using System.Threading.Channels;
using Gearman.Reactive.Protocol;
using Gearman.Server.Admin;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Gearman.Server.Networking;
using Gearman.Server.Persistence;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Scheduling;

/// <summary>
/// The channel-driven core. Connection readers post <see cref="ServerCommand"/>s and then call <see cref="Drain"/>;
/// whichever thread gets to drain processes every queued command in order while the others return at once, so one
/// thread at a time owns every piece of job state and none of it needs a lock. Replies are queued in each connection's
/// <see cref="Reactive.Connections.PacketOutbox"/> and flushed once the queue is empty, one write per connection per batch.
/// </summary>
/// <remarks>
/// Draining on the posting thread (instead of a dedicated loop) saves two thread hops per request: the reader no longer
/// wakes a loop, and the loop no longer wakes each connection's write loop. With Kestrel's inline scheduling a request
/// is read, processed and answered on the socket's I/O thread, as gearmand does on its one I/O thread.
/// </remarks>
internal sealed partial class JobScheduler
{
    private readonly Channel<ServerCommand> _commands;
    private readonly GearmanServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ServerMetrics _metrics;
    private readonly AdminCommands _admin;
    private readonly byte[] _handlePrefix;
    private readonly Dictionary<ReadOnlyMemory<byte>, FunctionRecord> _functions = new(ByteKeyComparer.Instance);
    private readonly Dictionary<ReadOnlyMemory<byte>, FunctionRecord>.AlternateLookup<ReadOnlySpan<byte>> _functionsBySpan;
    private readonly Dictionary<uint, Job> _jobs = [];
    private readonly SortedDictionary<int, PeerConnection> _connections = [];
    private readonly System.Collections.Concurrent.ConcurrentQueue<PeerConnection> _outboxesToFlush = new();
    private uint _nextHandle;
    private long _nextSequence;

    /// <summary>The ownership slot: the pooled body of the command being processed, until a job takes it (see <see cref="ProcessNow"/>).</summary>
    private byte[]? _commandBuffer;

    /// <summary>1 while a thread drains the queue (or for good once the scheduler has stopped).</summary>
    private int _draining;

    /// <summary>Commands posted to the channel and not yet taken out (a command may skip the channel only when this is 0).</summary>
    private int _queued;

    private volatile bool _completed;

    public JobScheduler(GearmanServerOptions options, ILogger logger, TimeProvider? timeProvider = null, JobStoreWriter? store = null, ServerMetrics? metrics = null)
    {
        _options = options;
        _metrics = metrics ?? new ServerMetrics(meterFactory: null);
        _store = store;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        _commands = Channel.CreateBounded<ServerCommand>(new BoundedChannelOptions(8192)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        });
        _functionsBySpan = _functions.GetAlternateLookup<ReadOnlySpan<byte>>();
        // gearmand uses uname's nodename in full; Environment.MachineName would cut it at the first dot (spec §2.2).
        string prefix = options.HandlePrefix ?? "H:" + System.Net.Dns.GetHostName();
        _handlePrefix = Encoding.UTF8.GetBytes(prefix + ":");
        _admin = new AdminCommands(this);
        _epochTimer = _time.CreateTimer(static s => ((JobScheduler)s!).Post(ServerCommand.ForEpochDue()), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public GearmanServerOptions Options => _options;

    public TimeProvider Time => _time;

    // Read access for the admin protocol.
    internal IReadOnlyDictionary<ReadOnlyMemory<byte>, FunctionRecord> Functions => _functions;

    internal IReadOnlyDictionary<uint, Job> Jobs => _jobs;

    internal IEnumerable<PeerConnection> Connections => _connections.Values;

    /// <summary>
    /// Processes the command at once when the scheduler is idle, else queues it; either way its replies wait for the next
    /// <see cref="Drain"/>, so call that after the last command of a burst (for a reader: of one read buffer). When the
    /// queue is full this thread drains it first, or waits for the thread that does (back-pressure on the reader).
    /// </summary>
    public ValueTask PostAsync(in ServerCommand command, CancellationToken cancellationToken = default)
    {
        if (TryProcessNow(command)) return ValueTask.CompletedTask;
        Interlocked.Increment(ref _queued);
        if (_commands.Writer.TryWrite(command)) return ValueTask.CompletedTask;
        Drain();
        if (_commands.Writer.TryWrite(command)) return ValueTask.CompletedTask;
        return PostWhenRoomAsync(command, cancellationToken);
    }

    /// <summary>
    /// Posts a command from outside a connection's read loop (the store writer), then drains, so its replies are flushed
    /// now rather than with some later reader's batch.
    /// </summary>
    public async ValueTask PostAndDrainAsync(ServerCommand command, CancellationToken cancellationToken = default)
    {
        await PostAsync(command, cancellationToken).ConfigureAwait(false);
        Drain();
    }

    /// <summary>
    /// Processes every queued command in order and flushes the replies, unless another thread is draining already (it
    /// then also takes what this thread queued). Never blocks.
    /// </summary>
    public void Drain()
    {
        var reader = _commands.Reader;
        while (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
        {
            try
            {
                while (reader.TryRead(out var command))
                {
                    Interlocked.Decrement(ref _queued);
                    Process(command);
                }

                FlushOutboxes();
            }
            finally
            {
                // A full fence: a command queued by a thread that saw the flag still set is seen by the peek below.
                Interlocked.Exchange(ref _draining, 0);
            }

            if (!reader.TryPeek(out _)) return;
        }
    }

    /// <summary>Stops accepting commands and processes what was queued.</summary>
    public void Complete()
    {
        _completed = true;
        _commands.Writer.TryComplete();
        Drain();
    }

    /// <summary>
    /// Completes once <see cref="Complete"/> was called and the queue is empty, or on cancellation; then releases the
    /// scheduler's timers. Commands are processed by <see cref="Drain"/>, not here.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _commands.Reader.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Take the drain flag for good, so no thread touches the state again. This cannot be the draining thread
            // itself: the channel runs Completion's continuations asynchronously (AllowSynchronousContinuations = false).
            var spin = default(SpinWait);
            while (Interlocked.CompareExchange(ref _draining, 1, 0) != 0) spin.SpinOnce();
            _epochTimer.Dispose();
            foreach (var job in _jobs.Values) job.TimeoutTimer?.Dispose();
        }
    }

    /// <summary>
    /// The common case of a lightly loaded server: no thread drains and nothing is queued (so nothing this connection
    /// posted earlier either), so the command is processed on this thread without going through the channel. Its replies
    /// are flushed by the next <see cref="Drain"/>, as for queued commands.
    /// </summary>
    private bool TryProcessNow(in ServerCommand command)
    {
        if (_completed || Volatile.Read(ref _queued) != 0 || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return false;
        bool processed = false;
        try
        {
            if (Volatile.Read(ref _queued) == 0)
            {
                processed = true;
                Process(command);
            }
        }
        finally
        {
            Interlocked.Exchange(ref _draining, 0);
        }

        // Commands queued meanwhile (by threads that found the flag taken) are ours to process now.
        if (Volatile.Read(ref _queued) != 0) Drain();
        return processed;
    }

    private async ValueTask PostWhenRoomAsync(ServerCommand command, CancellationToken cancellationToken)
    {
        try
        {
            await _commands.Writer.WriteAsync(command, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _queued);
            throw;
        }

        Drain();
    }

    /// <summary>Posts from a timer: queue and drain at once.</summary>
    private void Post(ServerCommand command)
    {
        Interlocked.Increment(ref _queued);
        if (_commands.Writer.TryWrite(command))
        {
            Drain();
            return;
        }

        _ = PostWhenRoomAsync(command, CancellationToken.None).AsTask().ContinueWith(
            static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    /// <summary>Handed to each connection: its first reply of a batch queues it for <see cref="FlushOutboxes"/>.</summary>
    internal void FlushLater(PeerConnection connection) => _outboxesToFlush.Enqueue(connection);

    private void FlushOutboxes()
    {
        while (_outboxesToFlush.TryDequeue(out var connection))
        {
            try
            {
                connection.Flush();
            }
            catch (Exception ex)
            {
                // The write loop itself reports transport errors; this only guards the drain.
                ServerLog.CommandFailed(_logger, ex, "flush", connection.ToString());
            }
        }
    }

    private void Process(in ServerCommand command)
    {
        if (command.Connection is { } connection && MustDefer(connection, command))
        {
            (connection.DeferredCommands ??= new()).Enqueue(command);
            return;
        }

        ProcessNow(command);
    }

    private void ProcessNow(in ServerCommand command)
    {
        // The command's buffer sits in the ownership slot while it is processed: a new job takes it from there
        // (TakeCommandBuffer) and nothing else can; whatever is left is returned below, even after an exception, and
        // a buffer a job took is out of reach of that return. (Deferred commands run nested, hence the save.)
        var outer = _commandBuffer;
        _commandBuffer = command.Buffer;
        try
        {
            switch (command.Kind)
            {
                case ServerCommandKind.Packet:
                    if (IsServed(command.Connection!)) ProcessPacket(command.Connection!, command);
                    break;
                case ServerCommandKind.AdminLine:
                    if (IsServed(command.Connection!)) _admin.Execute(command.Connection!, command.Body, command.CrLf);
                    break;
                case ServerCommandKind.Connected:
                    _connections[command.Connection!.Id] = command.Connection;
                    _metrics.ConnectionOpened();
                    break;
                case ServerCommandKind.Disconnected:
                    Disconnect(command.Connection!);
                    break;
                case ServerCommandKind.ProtocolError:
                    SendProtocolError(command.Connection!, command.Error, command.Number);
                    break;
                case ServerCommandKind.JobTimeout:
                    OnJobTimeout((Job)command.State!, (int)command.Number);
                    break;
                case ServerCommandKind.EpochDue:
                    ReleaseDueJobs();
                    break;
                case ServerCommandKind.StoreAck:
                    OnStoreAck((StoreAcknowledgement)command.State!);
                    break;
                case ServerCommandKind.Monitor:
                    ((MonitorRequest)command.State!).Run(this);
                    break;
            }
        }
        catch (Exception ex)
        {
            OnCommandFailed(command, ex);
        }
        finally
        {
            if (_commandBuffer is { } left) RequestBuffers.Return(left);
            _commandBuffer = outer;
        }
    }

    /// <summary>Whether the connection's requests are still served: not closed, and not being closed for exceeding --max-unsent-bytes.</summary>
    private static bool IsServed(PeerConnection connection) => !connection.IsClosed && !connection.IsOverUnsentLimit;

    /// <summary>
    /// Hands the buffer of the command being processed to a new job, which owns it from then on; at most once per command.
    /// </summary>
    private byte[] TakeCommandBuffer()
    {
        var buffer = _commandBuffer ?? throw new InvalidOperationException("The command's buffer was taken already.");
        _commandBuffer = null;
        return buffer;
    }

    /// <summary>
    /// One bad command must never take the server down or leave anyone waiting: it is logged with its connection, and
    /// a connection whose request failed halfway is closed (as gearmand closes on an internal error), since what it was
    /// answered is unknown. Everything else goes on.
    /// </summary>
    private void OnCommandFailed(in ServerCommand command, Exception exception)
    {
        string kind = command.Kind == ServerCommandKind.Packet ? command.Type.ToString() : command.Kind.ToString();
        ServerLog.CommandFailed(_logger, exception, kind, command.Connection?.ToString() ?? "-");
        if (command.Kind is ServerCommandKind.Packet or ServerCommandKind.AdminLine or ServerCommandKind.ProtocolError
            && command.Connection is { IsClosed: false } connection)
        {
            connection.Abort?.Invoke();
        }
    }

    private void ProcessPacket(PeerConnection connection, in ServerCommand command)
    {
        var body = command.Body;
        var fields = command.Fields;
        switch (command.Type)
        {
            case PacketType.SubmitJob:
            case PacketType.SubmitJobBg:
            case PacketType.SubmitJobHigh:
            case PacketType.SubmitJobHighBg:
            case PacketType.SubmitJobLow:
            case PacketType.SubmitJobLowBg:
            case PacketType.SubmitJobEpoch:
            case PacketType.SubmitReduceJob:
            case PacketType.SubmitReduceJobBackground:
                Submit(connection, command.Type, body, fields);
                break;

            case PacketType.GrabJob:
            case PacketType.GrabJobUniq:
            case PacketType.GrabJobAll:
                Grab(connection, command.Type);
                break;

            case PacketType.PreSleep:
                PreSleep(connection);
                break;

            case PacketType.CanDo:
                CanDo(connection, fields.Slice(body, 0), 0);
                break;

            case PacketType.CanDoTimeout:
                CanDoTimeout(connection, fields.Slice(body, 0), fields.Slice(body, 1));
                break;

            case PacketType.CantDo:
                CantDo(connection, fields.Slice(body, 0));
                break;

            case PacketType.ResetAbilities:
                ResetAbilities(connection);
                break;

            case PacketType.WorkData:
            case PacketType.WorkWarning:
            case PacketType.WorkStatus:
            case PacketType.WorkComplete:
            case PacketType.WorkFail:
            case PacketType.WorkException:
                WorkResult(connection, command.Type, body, fields);
                break;

            case PacketType.GetStatus:
                GetStatus(connection, UpToNul(fields.Slice(body, 0)));
                break;

            case PacketType.GetStatusUnique:
                GetStatusUnique(connection, UpToNul(fields.Slice(body, 0)));
                break;

            case PacketType.EchoReq:
                connection.Send(PacketType.EchoRes, body);
                break;

            case PacketType.OptionReq:
                SetOption(connection, fields.Slice(body, 0));
                break;

            case PacketType.SetClientId:
                var id = fields.Slice(body, 0);
                connection.ClientId = id[..Math.Min(id.Length, 127)].ToArray();
                break;

            default:
                SendError(connection, "INVALID_COMMAND"u8, "Command not expected"u8);
                break;
        }
    }

    private void SetOption(PeerConnection connection, ReadOnlySpan<byte> name)
    {
        if (Ascii.EqualsIgnoreCase(name, "exceptions"u8))
        {
            connection.ExceptionsEnabled = true;
            connection.Send(PacketType.OptionRes, name);
        }
        else
        {
            SendError(connection, "UNKNOWN_OPTION"u8, "Server does not recognize given option"u8);
        }
    }

    private void SendProtocolError(PeerConnection connection, ProtocolErrorKind error, long detail)
    {
        switch (error)
        {
            case ProtocolErrorKind.InvalidMagic:
                SendError(connection, "INVALID_MAGIC"u8, "Request magic expected"u8);
                break;
            case ProtocolErrorKind.InvalidCommand:
                SendError(connection, "INVALID_COMMAND"u8, "Command not expected"u8);
                break;
            case ProtocolErrorKind.PacketTooLarge:
                SendError(connection, "ARGUMENT_TOO_LARGE"u8, Encoding.ASCII.GetBytes($"Packet of {detail} bytes exceeds the server's maximum packet size of {_options.MaxPacketSize} bytes"));
                break;
        }
    }

    private static void SendError(PeerConnection connection, ReadOnlySpan<byte> code, ReadOnlySpan<byte> text)
        => connection.Send(PacketType.Error, code, text);

    private void Disconnect(PeerConnection connection)
    {
        if (connection.IsClosed) return;
        connection.IsClosed = true;
        if (_connections.Remove(connection.Id)) _metrics.ConnectionClosed();
        DropDeferred(connection);

        // As a client: detach; foreground jobs nobody waits for any more are abandoned (spec §2.4).
        foreach (var job in connection.AttachedJobs)
        {
            // A connection that joined its own job twice is listed twice: the first visit detaches it completely.
            if (job.Clients.RemoveAll(c => c == connection) == 0) continue;
            if (job.Clients.Count == 0 && !job.IsBackground) Abandon(job);
        }

        connection.AttachedJobs.Clear();

        // As a worker: everything it held goes back to the queue (spec §2.11).
        RemoveAllRegistrations(connection);
        RequeueRunning(connection, function: null);
        connection.Complete();
    }

    private static ReadOnlySpan<byte> UpToNul(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return nul < 0 ? field : field[..nul];
    }

    private FunctionRecord GetOrAddFunction(ReadOnlySpan<byte> name)
    {
        if (_functionsBySpan.TryGetValue(name, out var function)) return function;
        var copy = name.ToArray();
        function = new FunctionRecord(copy);
        _functions.Add(copy, function);
        return function;
    }

    internal bool TryGetFunction(ReadOnlySpan<byte> name, out FunctionRecord function)
        => _functionsBySpan.TryGetValue(name, out function!);

    internal FunctionRecord CreateFunction(ReadOnlySpan<byte> name) => GetOrAddFunction(name);

    internal void RemoveFunction(FunctionRecord function) => _functions.Remove(function.Name);

    /// <summary>Finds a job by its handle: our prefix followed by the decimal counter.</summary>
    internal bool TryGetJob(ReadOnlySpan<byte> handle, out Job job)
    {
        job = null!;
        if (!handle.StartsWith(_handlePrefix)) return false;
        var digits = handle[_handlePrefix.Length..];
        if (digits.IsEmpty || digits.Length > 10) return false;
        ulong n = 0;
        foreach (byte b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9') return false;
            n = (n * 10) + (uint)(b - '0');
        }

        return n <= uint.MaxValue && _jobs.TryGetValue((uint)n, out job!);
    }
}
