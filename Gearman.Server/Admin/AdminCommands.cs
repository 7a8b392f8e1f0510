using System.Buffers;
using System.Text;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;
using Gearman.Server.Networking;
using Gearman.Server.Scheduling;

namespace Gearman.Server.Admin;

/// <summary>
/// The admin text protocol, byte-compatible with gearmand 1.1.x (spec §3). Runs on the scheduler loop, so it reads the
/// job state directly. Replies are built in a reused buffer and queued as one write.
/// </summary>
internal sealed class AdminCommands
{
    /// <summary>What <c>version</c> reports: gearmand's protocol level, then this implementation.</summary>
    public static readonly string Version = "1.1.20+gearman.net." + (typeof(AdminCommands).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    private static readonly string[] VerboseLevels = ["FATAL", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"];

    private readonly JobScheduler _scheduler;
    private readonly PooledBufferWriter _reply = new();

    public AdminCommands(JobScheduler scheduler)
    {
        _scheduler = scheduler;
    }

    public void Execute(PeerConnection connection, ReadOnlySpan<byte> line, bool crLf)
    {
        if (!AdminTokens.TrySplit(line, out var tokens))
        {
            // gearmand closes the connection without a reply when a line has more than five tokens.
            connection.Abort?.Invoke();
            return;
        }

        _reply.Clear();
        Dispatch(line, tokens);
        connection.SendRaw(_reply.WrittenSpan);
        _ = crLf; // gearmand's create-function truncation without CRLF is a bug we do not copy (spec §3).
    }

    private void Dispatch(ReadOnlySpan<byte> line, in AdminTokens tokens)
    {
        var command = tokens.Slice(line, 0);
        if (Ascii.EqualsIgnoreCase(command, "workers"u8)) Workers();
        else if (Ascii.EqualsIgnoreCase(command, "status"u8)) Status();
        else if (Ascii.EqualsIgnoreCase(command, "prioritystatus"u8)) PriorityStatus();
        else if (Ascii.EqualsIgnoreCase(command, "maxqueue"u8)) MaxQueue(line, tokens);
        else if (Ascii.EqualsIgnoreCase(command, "version"u8)) Write($"OK {Version}\n");
        else if (Ascii.EqualsIgnoreCase(command, "getpid"u8)) Write($"OK {Environment.ProcessId}\n");
        else if (Ascii.EqualsIgnoreCase(command, "verbose"u8)) Write($"OK {VerboseLevels[Math.Clamp(_scheduler.Options.Verbosity, 0, VerboseLevels.Length - 1)]}\n");
        else if (Ascii.EqualsIgnoreCase(command, "show"u8) && tokens.Count > 1) Show(line, tokens);
        else if (Ascii.EqualsIgnoreCase(command, "cancel"u8) && tokens.Count > 2) Cancel(line, tokens);
        else if (Ascii.EqualsIgnoreCase(command, "create"u8)) CreateFunction(line, tokens);
        else if (Ascii.EqualsIgnoreCase(command, "drop"u8)) DropFunction(line, tokens);
        else UnknownCommand(command);
    }

    private void UnknownCommand(ReadOnlySpan<byte> token)
    {
        Write("ERR UNKNOWN_COMMAND Unknown+server+command"u8);
        Write(token);
        Write("\r\n"u8);
    }

    private void Workers()
    {
        foreach (var peer in _scheduler.Connections)
        {
            Write($"{peer.Id} {peer.RemoteAddress} ");
            Write(peer.ClientId);
            Write(" :"u8);
            foreach (var registration in peer.Registrations)
            {
                Write(" "u8);
                Write(registration.Function.Name);
            }

            Write("\n"u8);
        }

        Write(".\n"u8);
    }

    private void Status()
    {
        foreach (var function in _scheduler.Functions.Values)
        {
            Write(function.Name);
            Write($"\t{function.JobTotal}\t{function.JobRunning}\t{function.Workers.Count}\n");
        }

        Write(".\n"u8);
    }

    private void PriorityStatus()
    {
        foreach (var function in _scheduler.Functions.Values)
        {
            Write(function.Name);
            Write($"\t{function.Queues[0].Count}\t{function.Queues[1].Count + function.DelayedCount}\t{function.Queues[2].Count}\t{function.Workers.Count}\n");
        }

        Write(".\n"u8);
    }

    private void MaxQueue(ReadOnlySpan<byte> line, in AdminTokens tokens)
    {
        if (tokens.Count < 2)
        {
            Write("ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"u8);
            return;
        }

        // Departures from gearmand (docs/server.md): limits must be whole numbers from 0 to int.MaxValue (gearmand's
        // atoi answers OK to `abc`, `-5`, `1e20` or `1.5`), and an unknown function is created, as `create function`
        // would (gearmand answers OK and ignores the limit). Values after the third are ignored, as gearmand does.
        Span<int> values = stackalloc int[3];
        int count = Math.Min(tokens.Count - 2, values.Length);
        for (int i = 0; i < count; i++)
        {
            if (!TryParseLimit(tokens.Slice(line, i + 2), out values[i]))
            {
                Write("ERR INVALID_ARGUMENTS maxqueue+limits+must+be+whole+numbers+from+0+to+2147483647\r\n"u8);
                return;
            }
        }

        var max = _scheduler.CreateFunction(tokens.Slice(line, 1)).MaxQueue;
        switch (count)
        {
            case 0:
                max[0] = max[1] = max[2] = 0;
                break;
            case 1:
                max[0] = max[1] = max[2] = values[0];
                break;
            case 2:
                max[0] = values[0];
                max[1] = values[1];
                max[2] = 0;
                break;
            default:
                max[0] = values[0];
                max[1] = values[1];
                max[2] = values[2];
                break;
        }

        Write("OK\r\n"u8);
    }

    /// <summary>Decimal digits only, at most <see cref="int.MaxValue"/>.</summary>
    private static bool TryParseLimit(ReadOnlySpan<byte> text, out int value)
    {
        value = 0;
        if (text.IsEmpty) return false;
        long result = 0;
        foreach (byte b in text)
        {
            if (b is < (byte)'0' or > (byte)'9') return false;
            result = (result * 10) + (b - '0');
            if (result > int.MaxValue) return false;
        }

        value = (int)result;
        return true;
    }

    private void Show(ReadOnlySpan<byte> line, in AdminTokens tokens)
    {
        if (tokens.Count == 2 && tokens.Is(line, 1, "jobs"u8))
        {
            foreach (var job in _scheduler.Jobs.Values.OrderBy(j => j.Sequence))
            {
                Write(job.Handle);
                Write($"\t{job.Retries}\t{(job.IsIgnored ? 1 : 0)}\t{(job.IsPersisted ? 1 : 0)}\n");
            }

            Write(".\n"u8);
        }
        else if (tokens.Count == 3 && tokens.Is(line, 1, "unique"u8) && tokens.Is(line, 2, "jobs"u8))
        {
            foreach (var job in _scheduler.Jobs.Values.OrderBy(j => j.Sequence))
            {
                if (_scheduler.Options.UniqueJobsWithHandles)
                {
                    // gearmand 2.2's layout (--unique-jobs-layout 2.2): handle, tab, unique.
                    Write(job.Handle);
                    Write("\t"u8);
                }

                Write(job.Unique.Span);
                Write("\n"u8);
            }

            Write(".\n"u8);
        }
        else
        {
            Write("ERR UNKNOWN_SHOW_ARGUMENTS\r\n"u8);
        }
    }

    private void Cancel(ReadOnlySpan<byte> line, in AdminTokens tokens)
    {
        if (tokens.Count != 3 || !tokens.Is(line, 1, "job"u8))
        {
            Write("ERR UNKNOWN_ERROR\r\n"u8);
            return;
        }

        Write(_scheduler.Cancel(tokens.Slice(line, 2)) ? "OK\r\n"u8 : "ERR UNKNOWN_JOB\r\n"u8);
    }

    private void CreateFunction(ReadOnlySpan<byte> line, in AdminTokens tokens)
    {
        if (tokens.Count != 3 || !tokens.Is(line, 1, "function"u8))
        {
            Write("ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n"u8);
            return;
        }

        _scheduler.CreateFunction(tokens.Slice(line, 2));
        Write("OK\r\n"u8);
    }

    private void DropFunction(ReadOnlySpan<byte> line, in AdminTokens tokens)
    {
        if (tokens.Count != 3 || !tokens.Is(line, 1, "function"u8))
        {
            Write("ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+drop\r\n"u8);
            return;
        }

        // gearmand matches the name case-insensitively here.
        var name = tokens.Slice(line, 2);
        FunctionRecord? function = null;
        foreach (var candidate in _scheduler.Functions.Values)
        {
            if (Ascii.EqualsIgnoreCase(candidate.Name, name))
            {
                function = candidate;
                break;
            }
        }

        if (function is null)
        {
            Write("ERR function not found\r\n"u8);
        }
        else if (function.Workers.Count > 0 || function.JobRunning > 0)
        {
            Write("ERR there are still connected workers or executing clients\r\n"u8);
        }
        else if (function.JobTotal > 0)
        {
            // gearmand would free queued jobs here; we never drop accepted work silently.
            Write("ERR there are still queued jobs\r\n"u8);
        }
        else
        {
            _scheduler.RemoveFunction(function);
            Write("OK\r\n"u8);
        }
    }

    private void Write(ReadOnlySpan<byte> bytes) => _reply.Write(bytes);

    private void Write(string text)
    {
        int max = Encoding.UTF8.GetMaxByteCount(text.Length);
        int written = Encoding.UTF8.GetBytes(text, _reply.GetSpan(max));
        _reply.Advance(written);
    }
}
