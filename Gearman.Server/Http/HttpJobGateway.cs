using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Gearman.Reactive;
using Gearman.Reactive.Protocol;
using Gearman.Server.Admin;
using Gearman.Server.Diagnostics;
using Gearman.Server.Hosting;
using Gearman.Server.Networking;
using Gearman.Server.Scheduling;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Http;

/// <summary>
/// gearmand's HTTP job protocol (<c>-r http</c>): each request becomes a client connection of the scheduler that sends one
/// SUBMIT_JOB* packet, so priorities, coalescing and abandon rules are the scheduler's own. The path names the function,
/// the body is the workload, <c>X-Gearman-*</c> headers choose unique ID, priority and background; the answer carries the
/// job handle and the final packet's name (docs/monitoring.md lists where we differ from gearmand 1.1.20).
/// </summary>
internal sealed class HttpJobGateway
{
    /// <summary>What gearmand sends as <c>Server</c>; ours names this implementation after the protocol level.</summary>
    private static readonly string ServerHeader = "Gearman/" + AdminCommands.Version;

    private readonly JobScheduler _scheduler;
    private readonly GearmanServerOptions _options;
    private readonly ILogger _logger;

    public HttpJobGateway(JobScheduler scheduler, GearmanServerOptions options, ILogger logger)
    {
        _scheduler = scheduler;
        _options = options;
        _logger = logger;
    }

    /// <summary>Answers one request: validates it, submits the job and waits for its end (or, in the background, for JOB_CREATED).</summary>
    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        context.Response.Headers.Server = ServerHeader;
        bool head = HttpMethods.IsHead(request.Method);
        if (!head && !HttpMethods.IsGet(request.Method) && !HttpMethods.IsPost(request.Method) && !HttpMethods.IsPut(request.Method))
        {
            context.Response.Headers.Allow = "GET, POST, PUT, HEAD";
            await RejectAsync(context, StatusCodes.Status405MethodNotAllowed, "METHOD_NOT_ALLOWED", $"{request.Method} does not submit a job: use GET, POST, PUT or HEAD.").ConfigureAwait(false);
            return;
        }

        // gearmand takes the raw request target after its leading slashes, query string included, as the function name.
        string target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (request.Path + request.QueryString).ToString();
        string function = target.TrimStart('/');
        if (function.Length == 0)
        {
            if (head)
            {
                // gearmand answers HEAD / as a ping (an ECHO), with no job.
                context.Response.ContentLength = 0;
                return;
            }

            await RejectAsync(context, StatusCodes.Status404NotFound, "NOT_FOUND", "No function name: the path names the function, as in /reverse.").ConfigureAwait(false);
            return;
        }

        if (!TryParsePriority(request.Headers["X-Gearman-Priority"], out var priority))
        {
            await RejectAsync(context, StatusCodes.Status400BadRequest, "BAD_REQUEST", $"Unknown X-Gearman-Priority '{request.Headers["X-Gearman-Priority"]}': expected high, normal or low.").ConfigureAwait(false);
            return;
        }

        bool background = string.Equals(request.Headers["X-Gearman-Background"], "true", StringComparison.OrdinalIgnoreCase);
        string unique = request.Headers["X-Gearman-Unique"].ToString();
        if (unique.Length == 0) unique = "-";

        var (buffer, length) = await ReadSubmitBodyAsync(context, function, unique).ConfigureAwait(false);
        if (buffer is null) return;

        var type = SubmitType(priority, background);
        if (!PacketFields.TrySplit(PacketLayout.Of(type).Fields, buffer.AsSpan(0, length), out var fields))
        {
            RequestBuffers.Return(buffer);
            await RejectAsync(context, StatusCodes.Status400BadRequest, "BAD_REQUEST", "The function name or unique ID contains a NUL byte.").ConfigureAwait(false);
            return;
        }

        var peer = new PeerConnection(PeerConnection.NextId(), context.Connection.RemoteIpAddress?.ToString() ?? "unknown", _options.Exceptions, _scheduler.FlushLater)
        {
            // A command that fails on the scheduler aborts its connection: here, the HTTP request. Replies are not capped
            // here (the relay reads them as they come); the answer they build is, in AnswerAsync.
            Abort = context.Abort,
        };
        await SubmitAsync(context, head, ServerCommand.ForPacket(peer, type, buffer, length, fields), peer).ConfigureAwait(false);
    }

    private static bool TryParsePriority(string? value, out JobPriority priority)
    {
        priority = JobPriority.Normal;
        if (string.IsNullOrEmpty(value) || string.Equals(value, "normal", StringComparison.OrdinalIgnoreCase)) return true;
        if (string.Equals(value, "high", StringComparison.OrdinalIgnoreCase)) priority = JobPriority.High;
        else if (string.Equals(value, "low", StringComparison.OrdinalIgnoreCase)) priority = JobPriority.Low;
        else return false;
        return true;
    }

    private static PacketType SubmitType(JobPriority priority, bool background) => (priority, background) switch
    {
        (JobPriority.High, false) => PacketType.SubmitJobHigh,
        (JobPriority.High, true) => PacketType.SubmitJobHighBg,
        (JobPriority.Low, false) => PacketType.SubmitJobLow,
        (JobPriority.Low, true) => PacketType.SubmitJobLowBg,
        (_, false) => PacketType.SubmitJob,
        (_, true) => PacketType.SubmitJobBg,
    };

    private static async Task RejectAsync(HttpContext context, int status, string reason, string message)
    {
        context.Response.StatusCode = status;
        if (context.Features.Get<IHttpResponseFeature>() is { } feature) feature.ReasonPhrase = reason;
        context.Response.ContentType = "text/plain; charset=utf-8";
        byte[] text = Encoding.UTF8.GetBytes(message + "\n");
        context.Response.ContentLength = text.Length;
        await context.Response.Body.WriteAsync(text, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the whole body (Content-Length or chunked) into a pooled <c>function\0unique\0data</c> buffer; null after
    /// answering 413 when it would exceed <c>--max-packet-size</c>.
    /// </summary>
    private async Task<(byte[]? Buffer, int Length)> ReadSubmitBodyAsync(HttpContext context, string function, string unique)
    {
        int prefix = Encoding.UTF8.GetByteCount(function) + Encoding.UTF8.GetByteCount(unique) + 2;
        long max = _options.MaxPacketSize;
        var reader = context.Request.BodyReader;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await RejectTooLargeAsync(context, max).ConfigureAwait(false);
                return (null, 0);
            }

            var body = read.Buffer;
            if (prefix + body.Length > max)
            {
                reader.AdvanceTo(body.End);
                await RejectTooLargeAsync(context, max).ConfigureAwait(false);
                return (null, 0);
            }

            if (!read.IsCompleted)
            {
                reader.AdvanceTo(body.Start, body.End);
                continue;
            }

            int length = prefix + (int)body.Length;
            var buffer = RequestBuffers.Rent(length);
            int at = Encoding.UTF8.GetBytes(function, buffer);
            buffer[at++] = 0;
            at += Encoding.UTF8.GetBytes(unique, buffer.AsSpan(at));
            buffer[at++] = 0;
            body.CopyTo(buffer.AsSpan(at));
            reader.AdvanceTo(body.End);
            return (buffer, length);
        }
    }

    private static Task RejectTooLargeAsync(HttpContext context, long max)
        => RejectAsync(context, StatusCodes.Status413PayloadTooLarge, "REQUEST_ENTITY_TOO_LARGE", $"The job (function, unique ID and body) exceeds the server's maximum packet size of {max} bytes.");

    /// <summary>
    /// Connects <paramref name="peer"/> to the scheduler, posts the submit and relays the replies. When the HTTP client
    /// goes away first, the connection's disconnect abandons a foreground job that no worker has taken, as for any client.
    /// </summary>
    private async Task SubmitAsync(HttpContext context, bool head, ServerCommand submit, PeerConnection peer)
    {
        var replies = new Pipe();
        var writeLoop = RelayRepliesAsync(peer, replies.Writer);
        bool connected = false, submitted = false;
        try
        {
            await _scheduler.PostAsync(ServerCommand.ForConnected(peer), context.RequestAborted).ConfigureAwait(false);
            connected = true;
            await _scheduler.PostAsync(submit, context.RequestAborted).ConfigureAwait(false);
            submitted = true;
            _scheduler.Drain();
            await AnswerAsync(context, head, replies.Reader, JobScheduler.IsBackgroundSubmit(submit.Type), _options.EffectiveMaxUnsentBytes).ConfigureAwait(false);
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            if (!submitted) submit.ReturnBuffer();
            await RejectAsync(context, StatusCodes.Status503ServiceUnavailable, "SERVICE_UNAVAILABLE", "The server is stopping.").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            if (!submitted) submit.ReturnBuffer();
            ServerLog.ConnectionClosed(_logger, peer.ToString());
        }
        finally
        {
            await _scheduler.DisconnectAsync(peer, connected).ConfigureAwait(false);
            await writeLoop.ConfigureAwait(false);
            await replies.Reader.CompleteAsync().ConfigureAwait(false);
            peer.Outbox.Dispose();
        }
    }

    private static async Task RelayRepliesAsync(PeerConnection peer, PipeWriter writer)
    {
        try
        {
            await peer.Outbox.RunAsync(writer, CancellationToken.None).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // The reader completed first (the HTTP client left): nothing more to relay.
        }
        finally
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads the scheduler's replies to this connection until the job's answer: JOB_CREATED for a background job,
    /// WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION for a foreground one (with the WORK_DATA before it in front of its
    /// data), or an ERROR. WORK_STATUS and WORK_WARNING are not part of an HTTP answer. The answer is buffered (its length
    /// goes in Content-Length, as gearmand sends it), up to <paramref name="maxAnswer"/> bytes (<c>--max-unsent-bytes</c>);
    /// a job whose data exceeds it is answered 502.
    /// </summary>
    private static async Task AnswerAsync(HttpContext context, bool head, PipeReader replies, bool isBackground, long maxAnswer)
    {
        var content = new ArrayBufferWriter<byte>();
        byte[] handle = [];
        while (true)
        {
            var read = await replies.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            var buffer = read.Buffer;
            try
            {
                while (PacketReader.TryRead(ref buffer, uint.MaxValue, out var packet, out _) == PacketReadStatus.Packet)
                {
                    if (!packet.TrySplit(out var fields)) continue;
                    var body = packet.Body;
                    switch (packet.Type)
                    {
                        case PacketType.JobCreated:
                            handle = fields.Slice(body, 0).ToArray();
                            if (isBackground)
                            {
                                await WriteAnswerAsync(context, head, handle, "JOB_CREATED", ReadOnlySequence<byte>.Empty).ConfigureAwait(false);
                                return;
                            }

                            break;
                        case PacketType.WorkData or PacketType.WorkComplete or PacketType.WorkException:
                            var data = fields.Slice(body, 1);
                            if (content.WrittenCount + data.Length > maxAnswer)
                            {
                                await RejectAsync(context, StatusCodes.Status502BadGateway, "BAD_GATEWAY", $"The job's data exceeds the {maxAnswer} bytes an HTTP answer may buffer (--max-unsent-bytes).").ConfigureAwait(false);
                                return;
                            }

                            foreach (var segment in data) content.Write(segment.Span);
                            if (packet.Type == PacketType.WorkData) break;
                            await WriteAnswerAsync(context, head, handle, CommandName(packet.Type), new ReadOnlySequence<byte>(content.WrittenMemory)).ConfigureAwait(false);
                            return;
                        case PacketType.WorkFail:
                            await WriteAnswerAsync(context, head, handle, "WORK_FAIL", ReadOnlySequence<byte>.Empty).ConfigureAwait(false);
                            return;
                        case PacketType.Error:
                            await WriteErrorAsync(context, fields.Slice(body, 0).ToArray(), fields.Slice(body, 1).ToArray()).ConfigureAwait(false);
                            return;
                    }
                }

                if (read.IsCompleted)
                {
                    await RejectAsync(context, StatusCodes.Status503ServiceUnavailable, "SERVICE_UNAVAILABLE", "The server stopped before the job ended.").ConfigureAwait(false);
                    return;
                }
            }
            finally
            {
                replies.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    private static string CommandName(PacketType type) => type == PacketType.WorkComplete ? "WORK_COMPLETE" : "WORK_EXCEPTION";

    private static async Task WriteAnswerAsync(HttpContext context, bool head, byte[] handle, string command, ReadOnlySequence<byte> body)
    {
        var response = context.Response;
        response.Headers["X-Gearman-Job-Handle"] = Encoding.UTF8.GetString(handle);
        if (!head) response.Headers["X-Gearman-Command"] = command;
        response.ContentLength = body.Length;
        if (head || body.IsEmpty) return;
        foreach (var segment in body) await response.Body.WriteAsync(segment, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>An ERROR reply to the submit: the store is down (503), an argument is too long (400), an access rule denies it (403), anything else (500).</summary>
    private static Task WriteErrorAsync(HttpContext context, byte[] code, byte[] text)
    {
        string name = Encoding.UTF8.GetString(code);
        context.Response.Headers["X-Gearman-Command"] = "ERROR";
        return name switch
        {
            "QUEUE_ERROR" => RejectAsync(context, StatusCodes.Status503ServiceUnavailable, "SERVICE_UNAVAILABLE", $"{name}: {Encoding.UTF8.GetString(text)}"),
            "ARGUMENT_TOO_LARGE" => RejectAsync(context, StatusCodes.Status400BadRequest, "BAD_REQUEST", $"{name}: {Encoding.UTF8.GetString(text)}"),
            "PERMISSION_DENIED" => RejectAsync(context, StatusCodes.Status403Forbidden, "FORBIDDEN", $"{name}: {Encoding.UTF8.GetString(text)}"),
            _ => RejectAsync(context, StatusCodes.Status500InternalServerError, "INTERNAL_SERVER_ERROR", $"{name}: {Encoding.UTF8.GetString(text)}"),
        };
    }
}
