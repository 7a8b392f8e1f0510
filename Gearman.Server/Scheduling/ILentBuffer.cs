namespace Gearman.Server.Scheduling;

/// <summary>
/// Bytes the scheduler lets a transport send from where they already are (a job's data, a relayed result) instead of
/// copying them into an outbox. The owner keeps them unchanged until every <see cref="Lend"/> has had its <see cref="EndLend"/>.
/// </summary>
internal interface ILentBuffer
{
    /// <summary>On the scheduler: the bytes, now lent until the matching <see cref="EndLend"/>.</summary>
    ArraySegment<byte> Lend();

    /// <summary>From any thread: the transport no longer reads what <see cref="Lend"/> gave it.</summary>
    void EndLend();
}
