using Gearman.Server.Persistence;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// An in-memory <see cref="IJobStore"/> that a test can hold (batches wait until released), take down (every call
/// throws until it is brought back) and observe (rows, batches, and an awaitable change signal). For the writer's and
/// the scheduler's durability logic; the real stores have their own tests.
/// </summary>
internal sealed class ControllableJobStore : IJobStore
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<long, JobRecord> _rows = [];
    private readonly List<(long[] Adds, long[] Deletes)> _batches = [];
    private TaskCompletionSource _changed = NewSignal();
    private TaskCompletionSource? _hold;
    private bool _down;
    private int _opens;

    public ControllableJobStore(IEnumerable<JobRecord>? rows = null)
    {
        foreach (var row in rows ?? []) _rows[row.Id] = Copy(row);
    }

    public string Description => "controllable test store";

    /// <summary>Copies of the stored rows, by id.</summary>
    public IReadOnlyList<JobRecord> Rows
    {
        get
        {
            lock (_lock) return [.. _rows.Values];
        }
    }

    /// <summary>Every applied (or attempted, while down) batch: the ids added and deleted.</summary>
    public IReadOnlyList<(long[] Adds, long[] Deletes)> Batches
    {
        get
        {
            lock (_lock) return [.. _batches];
        }
    }

    /// <summary>How many times <see cref="OpenAsync"/> was called.</summary>
    public int Opens
    {
        get
        {
            lock (_lock) return _opens;
        }
    }

    /// <summary>From now on every batch waits in <see cref="ApplyAsync"/> until <see cref="Release"/>.</summary>
    public void Hold()
    {
        lock (_lock) _hold ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Lets held batches (and later ones) through.</summary>
    public void Release()
    {
        TaskCompletionSource? hold;
        lock (_lock)
        {
            hold = _hold;
            _hold = null;
        }

        hold?.TrySetResult();
    }

    /// <summary>Makes every call fail (<paramref name="down"/>) or succeed again.</summary>
    public void SetDown(bool down)
    {
        lock (_lock) _down = down;
    }

    /// <summary>Waits until <paramref name="condition"/> holds, re-checking after each change to the store.</summary>
    public async Task WaitUntilAsync(Func<ControllableJobStore, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            Task changed;
            lock (_lock) changed = _changed.Task;
            if (condition(this)) return;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"The store did not reach the expected state. Batches: {Describe()}");
            try
            {
                await changed.WaitAsync(left);
            }
            catch (TimeoutException)
            {
                if (condition(this)) return;
                throw new TimeoutException($"The store did not reach the expected state. Batches: {Describe()}");
            }
        }
    }

    public Task OpenAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _opens++;
            Signal();
            if (_down) throw new InvalidOperationException("test store is down");
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<JobRecord>> LoadAsync(CancellationToken cancellationToken) => Task.FromResult(Rows);

    public async Task ApplyAsync(IReadOnlyList<JobRecord> adds, IReadOnlyList<RetryCount> retries, IReadOnlyList<long> deletes, CancellationToken cancellationToken)
    {
        Task? hold;
        lock (_lock)
        {
            _batches.Add(([.. adds.Select(a => a.Id)], [.. deletes]));
            hold = _hold?.Task;
            Signal();
        }

        if (hold is not null) await hold.WaitAsync(cancellationToken);
        lock (_lock)
        {
            if (_down)
            {
                Signal();
                throw new InvalidOperationException("test store is down");
            }

            foreach (var add in adds) _rows[add.Id] = Copy(add);
            foreach (var (id, count) in retries)
            {
                if (_rows.TryGetValue(id, out var row)) _rows[id] = Copy(row, count);
            }

            foreach (long id in deletes) _rows.Remove(id);
            Signal();
        }
    }

    public ValueTask CloseAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync()
    {
        Release();
        return ValueTask.CompletedTask;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static JobRecord Copy(JobRecord r, int? retries = null)
        => new(r.Id, r.Function.ToArray(), r.Unique.ToArray(), r.Reducer.ToArray(), r.Data.ToArray(), r.Priority, r.Epoch, retries ?? r.Retries);

    private void Signal()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    private string Describe()
    {
        lock (_lock) return string.Join("; ", _batches.Select(b => $"+[{string.Join(',', b.Adds)}] -[{string.Join(',', b.Deletes)}]"));
    }
}
