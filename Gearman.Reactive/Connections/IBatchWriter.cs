using System.Buffers;
using System.IO.Pipelines;

namespace Gearman.Reactive.Connections;

/// <summary>Where a <see cref="PacketOutbox"/>'s write loop puts each batch: a pipe, or a socket written directly.</summary>
internal interface IBatchWriter
{
    /// <summary>
    /// Writes all of <paramref name="batch"/>, which stays valid until the returned task completes; completes
    /// synchronously when the transport took it at once.
    /// </summary>
    /// <returns>False when the other side takes no more (the write loop then ends).</returns>
    ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken);
}

/// <summary>Writes batches into a <see cref="PipeWriter"/> and flushes it once per batch.</summary>
internal sealed class PipeBatchWriter(PipeWriter output) : IBatchWriter
{
    public ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken)
    {
        output.Write(batch.Span);
        var flush = output.FlushAsync(cancellationToken);
        return flush.IsCompletedSuccessfully ? new(IsOpen(flush.Result)) : AwaitFlushAsync(flush);
    }

    private static bool IsOpen(FlushResult flush) => !(flush.IsCompleted || flush.IsCanceled);

    private static async ValueTask<bool> AwaitFlushAsync(ValueTask<FlushResult> flush) => IsOpen(await flush.ConfigureAwait(false));
}
