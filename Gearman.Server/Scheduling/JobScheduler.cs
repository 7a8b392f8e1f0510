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
/// The channel-driven core. Connection readers post <see cref="ServerCommand"/>s; one loop (<see cref="RunAsync"/>) reads
/// them in order and owns every piece of job state, so none of it needs a lock. Replies go out through each connection's
/// <see cref="Reactive.Connections.PacketOutbox"/>.
/// </summary>
internal sealed partial class JobScheduler
{
    private readonly Channel<ServerCommand> _commands;
    private readonly GearmanServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly AdminCommands _admin;
    private readonly byte[] _handlePrefix;
    private readonly Dictionary<ReadOnlyMemory<byte>, FunctionRecord> _functions = new(ByteKeyComparer.Instance);
    private readonly Dictionary<ReadOnlyMemory<byte>, FunctionRecord>.AlternateLookup<ReadOnlySpan<byte>> _functionsBySpan;
    private readonly Dictionary<uint, Job> _jobs = [];
    private readonly SortedDictionary<int, PeerConnection> _connections = [];
    private uint _nextHandle;
    private long _nextSequence;

    public JobScheduler(GearmanServerOptions options, ILogger logger, TimeProvider? timeProvider = null, JobStoreWriter? store = null)
    {
        _options = options;
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

    /// <summary>Queues a command for the loop; waits when the loop is behind (back-pressure on the reader).</summary>
    public ValueTask PostAsync(in ServerCommand command, CancellationToken cancellationToken = default)
    {
        if (_commands.Writer.TryWrite(command)) return ValueTask.CompletedTask;
        return _commands.Writer.WriteAsync(command, cancellationToken);
    }

    /// <summary>Stops accepting commands; the loop ends once it has processed what was queued.</summary>
    public void Complete() => _commands.Writer.TryComplete();

    /// <summary>The loop. Runs until <see cref="Complete"/> (after which the queue drains) or cancellation.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var reader = _commands.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var command))
                {
                    Process(command);
                }
            }
        }
        finally
        {
            _epochTimer.Dispose();
            foreach (var job in _jobs.Values) job.TimeoutTimer?.Dispose();
        }
    }

    private void Post(ServerCommand command)
    {
        if (!_commands.Writer.TryWrite(command))
        {
            _ = _commands.Writer.WriteAsync(command).AsTask().ContinueWith(
                static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
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
        bool keepBuffer = false;
        try
        {
            switch (command.Kind)
            {
                case ServerCommandKind.Packet:
                    if (!command.Connection!.IsClosed) keepBuffer = ProcessPacket(command.Connection, command);
                    break;
                case ServerCommandKind.AdminLine:
                    if (!command.Connection!.IsClosed) _admin.Execute(command.Connection, command.Body, command.CrLf);
                    break;
                case ServerCommandKind.Connected:
                    _connections[command.Connection!.Id] = command.Connection;
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
            }
        }
        catch (Exception ex)
        {
            // One bad command must never take the server down; the state it touched stays consistent because
            // every handler validates before it mutates.
            ServerLog.CommandFailed(_logger, ex, command.Kind == ServerCommandKind.Packet ? command.Type.ToString() : command.Kind.ToString());
        }
        finally
        {
            if (!keepBuffer) command.ReturnBuffer();
        }
    }

    /// <returns>True when a new job took ownership of the command's buffer.</returns>
    private bool ProcessPacket(PeerConnection connection, in ServerCommand command)
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
                return Submit(connection, command.Type, command.Buffer!, command.Length, fields);

            case PacketType.GrabJob:
            case PacketType.GrabJobUniq:
            case PacketType.GrabJobAll:
                Grab(connection, command.Type);
                return false;

            case PacketType.PreSleep:
                PreSleep(connection);
                return false;

            case PacketType.CanDo:
                CanDo(connection, fields.Slice(body, 0), 0);
                return false;

            case PacketType.CanDoTimeout:
                CanDoTimeout(connection, fields.Slice(body, 0), fields.Slice(body, 1));
                return false;

            case PacketType.CantDo:
                CantDo(connection, fields.Slice(body, 0));
                return false;

            case PacketType.ResetAbilities:
                ResetAbilities(connection);
                return false;

            case PacketType.WorkData:
            case PacketType.WorkWarning:
            case PacketType.WorkStatus:
            case PacketType.WorkComplete:
            case PacketType.WorkFail:
            case PacketType.WorkException:
                WorkResult(connection, command.Type, body, fields);
                return false;

            case PacketType.GetStatus:
                GetStatus(connection, UpToNul(fields.Slice(body, 0)));
                return false;

            case PacketType.GetStatusUnique:
                GetStatusUnique(connection, UpToNul(fields.Slice(body, 0)));
                return false;

            case PacketType.EchoReq:
                connection.Outbox.Send(PacketType.EchoRes, body);
                return false;

            case PacketType.OptionReq:
                SetOption(connection, fields.Slice(body, 0));
                return false;

            case PacketType.SetClientId:
                var id = fields.Slice(body, 0);
                connection.ClientId = id[..Math.Min(id.Length, 127)].ToArray();
                return false;

            default:
                SendError(connection, "INVALID_COMMAND"u8, "Command not expected"u8);
                return false;
        }
    }

    private void SetOption(PeerConnection connection, ReadOnlySpan<byte> name)
    {
        if (Ascii.EqualsIgnoreCase(name, "exceptions"u8))
        {
            connection.ExceptionsEnabled = true;
            connection.Outbox.Send(PacketType.OptionRes, name);
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
        => connection.Outbox.Send(PacketType.Error, code, text);

    private void Disconnect(PeerConnection connection)
    {
        if (connection.IsClosed) return;
        connection.IsClosed = true;
        _connections.Remove(connection.Id);
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
        connection.Outbox.Complete();
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
