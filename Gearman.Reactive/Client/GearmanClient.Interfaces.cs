using System.Runtime.CompilerServices;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Diagnostics;

namespace Gearman.Reactive.Client;

/// <summary><see cref="IGearmanClient"/>: event streams as <see cref="IAsyncEnumerable{T}"/>, and ECHO pings.</summary>
public sealed partial class GearmanClient : IGearmanClient
{
    /// <summary>
    /// Submits a job and streams its events for <c>await foreach</c>: the same events, in the same order and with the
    /// same exceptions as <see cref="Submit"/>, without an Rx bridge. Cold: each enumeration submits the job once.
    /// </summary>
    /// <remarks>
    /// Breaking out of the loop, disposing the enumerator or cancelling detaches from the job (Gearman cannot cancel a
    /// job; it keeps running on its worker). Events wait in an unbounded per-task queue while the loop body runs.
    /// </remarks>
    /// <param name="function">The function name (at most 512 UTF-8 bytes).</param>
    /// <param name="payload">The job's workload; read when the enumeration starts.</param>
    /// <param name="options">Job options; default <see cref="GearmanJobOptions.Default"/>.</param>
    /// <param name="cancellationToken">Detaches and ends the enumeration with <see cref="OperationCanceledException"/>; combined with the token of <c>WithCancellation</c>.</param>
    /// <returns>The job's events.</returns>
    /// <exception cref="ArgumentException">An argument is invalid; thrown here, not on enumeration.</exception>
    public IAsyncEnumerable<TaskEvent> ReadEventsAsync(
        string function,
        ReadOnlyMemory<byte> payload,
        GearmanJobOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var request = SubmitRequest.Create(function, payload, options, Options.MaxPacketSize);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return ReadEventsCoreAsync(request, cancellationToken);
    }

    /// <summary>
    /// Checks that every configured job server answers: each gets an <c>ECHO_REQ</c> with a random token on a connection
    /// of its own (as <c>gearman --ping</c>), so a ping neither waits behind nor disturbs jobs. A server that fails
    /// yields a result with its error; this method does not throw for it.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting. Each round trip is also bounded by <see cref="GearmanClientOptions.ConnectTimeout"/> (5 s when infinite).</param>
    /// <returns>One result per server, in the order of <see cref="GearmanClientOptions.Servers"/>.</returns>
    public ValueTask<IReadOnlyList<GearmanPingResult>> PingAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return EchoProbe.PingAllAsync(Options, cancellationToken);
    }

    private async IAsyncEnumerable<TaskEvent> ReadEventsCoreAsync(SubmitRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        long start = GearmanMetrics.TaskStarted(request.Function, Options.TimeProvider);
        var subscription = new TaskSubscription();
        using var deadline = Deadline.Start(request.Options.Timeout, Options.TimeProvider, cancellationToken);
        var token = deadline?.Token ?? cancellationToken;
        bool ended = false;
        try
        {
            try
            {
                request = StartTracing(request, subscription);
                await DispatchAsync(new ClientJob(request, subscription), token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                ended = true;
                if (Ended(request, subscription, start, deadline, cancellationToken, ex) is { } timeout) throw timeout;
                throw;
            }

            while (true)
            {
                bool more;
                try
                {
                    more = await subscription.Events.WaitToReadAsync(token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    ended = true;
                    if (Ended(request, subscription, start, deadline, cancellationToken, ex) is { } timeout) throw timeout;
                    throw;
                }

                if (!more) break;
                while (subscription.Events.TryRead(out var e)) yield return e;
            }

            ended = true;
            Succeeded(request, start, true);
        }
        finally
        {
            subscription.Detach();
            subscription.Activity?.Dispose();

            // The consumer left the loop early: it detached.
            if (!ended) GearmanMetrics.TaskFinished(request.Function, GearmanMetrics.TaskOutcome.Detached, start, Options.TimeProvider);
        }
    }

    /// <summary>Records how a streamed task failed; returns the <see cref="TimeoutException"/> to throw instead when its timeout expired.</summary>
    private TimeoutException? Ended(SubmitRequest request, TaskSubscription subscription, long start, Deadline? deadline, CancellationToken cancellationToken, Exception error)
    {
        if (error is OperationCanceledException && deadline is { Expired: true } && !cancellationToken.IsCancellationRequested)
        {
            GearmanMetrics.TaskFinished(request.Function, GearmanMetrics.TaskOutcome.Timeout, start, Options.TimeProvider);
            var timeout = TimedOut(request);
            GearmanTracing.Failed(subscription.Activity, timeout);
            return timeout;
        }

        GearmanMetrics.TaskFinished(request.Function, GearmanMetrics.OutcomeOf(error), start, Options.TimeProvider);
        GearmanTracing.Failed(subscription.Activity, error);
        return null;
    }
}
