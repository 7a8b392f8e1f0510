using Microsoft.Extensions.Logging;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A logger provider that keeps every event with its structured values, for tests that assert on what was logged, with
/// ways to await events. An event is named by its <see cref="EventId.Name"/>, or its number when it has no name.
/// </summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly Lock _lock = new();
    private readonly List<Entry> _entries = [];
    private readonly List<(string Event, int Count, TaskCompletionSource<IReadOnlyList<Entry>> Done)> _waiters = [];

    /// <summary>Everything logged so far, in order.</summary>
    public IReadOnlyList<Entry> Entries
    {
        get
        {
            lock (_lock) return [.. _entries];
        }
    }

    /// <summary>The events named <paramref name="eventName"/>.</summary>
    public IReadOnlyList<Entry> Named(string eventName)
    {
        lock (_lock) return [.. _entries.Where(e => e.Key == eventName)];
    }

    /// <summary>The messages logged under <paramref name="eventName"/> so far.</summary>
    public IReadOnlyList<string> Messages(string eventName) => [.. Named(eventName).Select(e => e.Message)];

    /// <summary>Completes with the first event named <paramref name="eventName"/> (already logged or still to come).</summary>
    public async Task<Entry> FirstAsync(string eventName) => (await CountAsync(eventName, 1).ConfigureAwait(false))[0];

    /// <summary>Completes with the first message of <paramref name="eventName"/> (already logged or still to come).</summary>
    public async Task<string> WaitForAsync(string eventName, TimeSpan timeout) => (await WaitForCountAsync(eventName, 1, timeout))[0];

    /// <summary>Completes with the messages of <paramref name="eventName"/> once there are at least <paramref name="count"/>.</summary>
    public async Task<IReadOnlyList<string>> WaitForCountAsync(string eventName, int count, TimeSpan timeout)
        => [.. (await CountAsync(eventName, count).WaitAsync(timeout)).Select(e => e.Message)];

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    public override string ToString()
    {
        lock (_lock) return string.Join('\n', _entries.Select(e => $"[{e.Key}] {e.Message}"));
    }

    private Task<IReadOnlyList<Entry>> CountAsync(string eventName, int count)
    {
        lock (_lock)
        {
            var named = Named(eventName);
            if (named.Count >= count) return Task.FromResult(named);
            var done = new TaskCompletionSource<IReadOnlyList<Entry>>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((eventName, count, done));
            return done.Task;
        }
    }

    private void Add(Entry entry)
    {
        lock (_lock)
        {
            _entries.Add(entry);
            if (_waiters.Count == 0) return;
            var named = Named(entry.Key);
            foreach (var waiter in _waiters.Where(w => w.Event == entry.Key && named.Count >= w.Count).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Done.TrySetResult(named);
            }
        }
    }

    /// <summary>One event: its name, message and named values.</summary>
    internal sealed record Entry(string? EventName, int EventNumber, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Values, Exception? Exception)
    {
        /// <summary>The name the capture files it under: the event's name, or its number.</summary>
        public string Key => EventName ?? EventNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private sealed class Logger(LogCapture owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? pairs.ToDictionary(p => p.Key, p => p.Value) : [];
            owner.Add(new Entry(eventId.Name, eventId.Id, logLevel, formatter(state, exception), values, exception));
        }
    }
}
