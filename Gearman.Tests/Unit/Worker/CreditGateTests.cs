using Gearman.Reactive.Worker;
using Xunit;

namespace Gearman.Tests.Unit.Worker;

/// <summary>A lane's capacity credits: free credits, waiting grab loops, inline hand-over and cancellation.</summary>
[Trait("Category", "Unit")]
public sealed class CreditGateTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 10_000)]
    public async Task Free_credits_are_taken_at_once_and_a_release_with_nobody_waiting_is_kept()
    {
        var gate = new CreditGate(2);
        var waiter = new CreditWaiter();
        Assert.True(gate.AcquireAsync(waiter, Ct).IsCompletedSuccessfully);
        Assert.True(gate.AcquireAsync(waiter, Ct).IsCompletedSuccessfully);
        var third = gate.AcquireAsync(waiter, Ct);
        Assert.False(third.IsCompleted);
        gate.Release();
        await third.AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        gate.Release();
        Assert.True(gate.AcquireAsync(waiter, Ct).IsCompletedSuccessfully);
    }

    [Fact(Timeout = 10_000)]
    public async Task An_inline_release_runs_the_waiting_continuation_on_the_releasing_thread_before_it_returns()
    {
        var gate = new CreditGate(0);
        var waiter = new CreditWaiter();
        var acquired = gate.AcquireAsync(waiter, Ct).AsTask(); // the continuation is registered now
        var resumedOn = acquired.ContinueWith(
            static _ => Environment.CurrentManagedThreadId, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Assert.False(acquired.IsCompleted);

        var releasing = Task.Factory.StartNew(
            () =>
            {
                gate.Release(runWaiterInline: true);
                return (Thread: Environment.CurrentManagedThreadId, Resumed: resumedOn.IsCompleted ? resumedOn.Result : -1);
            },
            Ct,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        var (thread, resumed) = await releasing.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal(thread, resumed);

        // Without inline, the continuation goes to the thread pool.
        var again = gate.AcquireAsync(waiter, Ct).AsTask();
        var later = again.ContinueWith(
            static _ => Environment.CurrentManagedThreadId, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var plain = Task.Factory.StartNew(
            () =>
            {
                gate.Release();
                return Environment.CurrentManagedThreadId;
            },
            Ct,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        int releaser = await plain.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.NotEqual(releaser, await later.WaitAsync(TimeSpan.FromSeconds(5), Ct));
    }

    [Fact(Timeout = 10_000)]
    public async Task A_cancelled_wait_leaves_the_queue_and_the_next_release_is_not_lost()
    {
        var gate = new CreditGate(0);
        var first = new CreditWaiter();
        var second = new CreditWaiter();
        using var cancel = new CancellationTokenSource();
        var cancelled = gate.AcquireAsync(first, cancel.Token).AsTask();
        var waiting = gate.AcquireAsync(second, Ct).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(5), Ct));

        gate.Release();
        await waiting.WaitAsync(TimeSpan.FromSeconds(5), Ct);

        // The cancelled waiter can wait again, and gets the next credit.
        var again = gate.AcquireAsync(first, Ct).AsTask();
        Assert.False(again.IsCompleted);
        gate.Release();
        await again.WaitAsync(TimeSpan.FromSeconds(5), Ct);
    }

    [Fact(Timeout = 10_000)]
    public async Task Waiters_are_served_in_order()
    {
        var gate = new CreditGate(0);
        var waiters = Enumerable.Range(0, 3).Select(_ => new CreditWaiter()).ToArray();
        var waits = waiters.Select(w => gate.AcquireAsync(w, Ct).AsTask()).ToArray();
        for (int i = 0; i < waits.Length; i++)
        {
            gate.Release();
            await waits[i].WaitAsync(TimeSpan.FromSeconds(5), Ct);
            Assert.All(waits.Skip(i + 1), w => Assert.False(w.IsCompleted));
        }
    }
}
