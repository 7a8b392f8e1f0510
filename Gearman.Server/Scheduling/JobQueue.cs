namespace Gearman.Server.Scheduling;

/// <summary>An intrusive FIFO of jobs: O(1) append, removal anywhere, and in-order insertion by sequence.</summary>
internal sealed class JobQueue
{
    public Job? First { get; private set; }

    public Job? Last { get; private set; }

    public int Count { get; private set; }

    public void Append(Job job)
    {
        job.Queue = this;
        job.Previous = Last;
        job.Next = null;
        if (Last is null) First = job;
        else Last.Next = job;
        Last = job;
        Count++;
    }

    /// <summary>Inserts <paramref name="job"/> after every job with a smaller sequence (a due epoch job keeps its submit order).</summary>
    public void InsertBySequence(Job job)
    {
        var after = Last;
        while (after is not null && after.Sequence > job.Sequence) after = after.Previous;
        if (after is null)
        {
            job.Queue = this;
            job.Previous = null;
            job.Next = First;
            if (First is null) Last = job;
            else First.Previous = job;
            First = job;
            Count++;
            return;
        }

        if (after == Last)
        {
            Append(job);
            return;
        }

        job.Queue = this;
        job.Previous = after;
        job.Next = after.Next;
        after.Next!.Previous = job;
        after.Next = job;
        Count++;
    }

    public void Remove(Job job)
    {
        if (job.Queue != this) return;
        if (job.Previous is null) First = job.Next;
        else job.Previous.Next = job.Next;
        if (job.Next is null) Last = job.Previous;
        else job.Next.Previous = job.Previous;
        job.Queue = null;
        job.Previous = job.Next = null;
        Count--;
    }
}
