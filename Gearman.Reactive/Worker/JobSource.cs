using System.Diagnostics.CodeAnalysis;
using System.Threading.Tasks.Dataflow;

namespace Gearman.Reactive.Worker;

/// <summary>
/// The source block <see cref="GearmanWorker.Jobs(IEnumerable{string}, GearmanFunctionOptions)"/> returns: a bounded
/// buffer that only the worker can post to.
/// </summary>
internal sealed class JobSource : IReceivableSourceBlock<GearmanJob>
{
    private readonly BufferBlock<GearmanJob> _buffer;

    public JobSource(BufferBlock<GearmanJob> buffer)
    {
        _buffer = buffer;
    }

    public Task Completion => _buffer.Completion;

    public void Complete() => _buffer.Complete();

    public void Fault(Exception exception) => ((IDataflowBlock)_buffer).Fault(exception);

    public IDisposable LinkTo(ITargetBlock<GearmanJob> target, DataflowLinkOptions linkOptions) => _buffer.LinkTo(target, linkOptions);

    public GearmanJob? ConsumeMessage(DataflowMessageHeader messageHeader, ITargetBlock<GearmanJob> target, out bool messageConsumed)
        => ((ISourceBlock<GearmanJob>)_buffer).ConsumeMessage(messageHeader, target, out messageConsumed);

    public bool ReserveMessage(DataflowMessageHeader messageHeader, ITargetBlock<GearmanJob> target)
        => ((ISourceBlock<GearmanJob>)_buffer).ReserveMessage(messageHeader, target);

    public void ReleaseReservation(DataflowMessageHeader messageHeader, ITargetBlock<GearmanJob> target)
        => ((ISourceBlock<GearmanJob>)_buffer).ReleaseReservation(messageHeader, target);

    public bool TryReceive(Predicate<GearmanJob>? filter, [MaybeNullWhen(false)] out GearmanJob item) => _buffer.TryReceive(filter, out item);

    public bool TryReceiveAll([NotNullWhen(true)] out IList<GearmanJob>? items) => _buffer.TryReceiveAll(out items);

    public override string ToString() => "Gearman job source";
}
