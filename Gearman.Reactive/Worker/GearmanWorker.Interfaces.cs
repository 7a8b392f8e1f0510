using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Connections;

namespace Gearman.Reactive.Worker;

/// <summary>Jobs as <see cref="IAsyncEnumerable{T}"/>, synchronous handlers, and ECHO pings.</summary>
public sealed partial class GearmanWorker
{
    /// <summary>
    /// Registers <paramref name="function"/> with a synchronous handler: as
    /// <see cref="AddFunction(string, Func{GearmanJob, CancellationToken, ValueTask{ReadOnlyMemory{byte}}}, GearmanFunctionOptions)"/>,
    /// for handlers that return their result directly (a <c>byte[]</c> converts to it), for example
    /// <c>(job, _) =&gt; Encoding.UTF8.GetBytes("done")</c>.
    /// </summary>
    /// <param name="function">The function name.</param>
    /// <param name="handler">Computes the result; throwing fails the job as in the asynchronous overload.</param>
    /// <param name="options">Timeout, capacity and parallelism.</param>
    public void AddFunction(string function, Func<GearmanJob, CancellationToken, ReadOnlyMemory<byte>> handler, GearmanFunctionOptions options)
    {
        ArgumentNullException.ThrowIfNull(handler);
        AddFunction(function, (job, cancellationToken) => ValueTask.FromResult(handler(job, cancellationToken)), options);
    }

    /// <summary>
    /// Registers <paramref name="function"/> and returns its jobs for <c>await foreach</c>: the
    /// <see cref="Jobs(string, GearmanFunctionOptions)"/> source read as an asynchronous stream, with the same
    /// back-pressure (at most <see cref="GearmanFunctionOptions.BoundedCapacity"/> jobs in flight, grabbed and not ended).
    /// </summary>
    /// <remarks>
    /// The function is registered by this call, not by the enumeration; enumerate the result once. End every job
    /// (<see cref="GearmanJob.CompleteAsync"/> or a fail) to free its slot. The stream ends when the worker stops
    /// grabbing (<see cref="StopAsync"/>); cancelling <paramref name="cancellationToken"/> ends the loop with
    /// <see cref="OperationCanceledException"/> but keeps the registration until the worker stops.
    /// </remarks>
    /// <param name="function">The function name.</param>
    /// <param name="options">Timeout and capacity.</param>
    /// <param name="cancellationToken">Ends the enumeration.</param>
    /// <returns>The jobs, in the order the servers assign them.</returns>
    public IAsyncEnumerable<GearmanJob> ReadJobsAsync(string function, GearmanFunctionOptions options, CancellationToken cancellationToken = default)
    {
        var source = (IReceivableSourceBlock<GearmanJob>)Jobs(function, options);
        return source.ReceiveAllAsync(cancellationToken);
    }

    /// <summary>
    /// Checks that every configured job server answers an <c>ECHO_REQ</c>, on a connection of its own, as
    /// <see cref="Client.GearmanClient.PingAsync"/>. Works whether or not the worker has started.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting. Each round trip is also bounded by <see cref="GearmanWorkerOptions.ConnectTimeout"/> (5 s when infinite).</param>
    /// <returns>One result per server, in the order of <see cref="GearmanWorkerOptions.Servers"/>.</returns>
    public ValueTask<IReadOnlyList<GearmanPingResult>> PingAsync(CancellationToken cancellationToken = default)
    {
        return EchoProbe.PingAllAsync(Options, cancellationToken);
    }
}
