using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Gearman.Tests.Infrastructure;

/// <summary>One log entry as a <see cref="CapturingLoggerFactory"/> recorded it.</summary>
internal sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

/// <summary>An <see cref="ILoggerFactory"/> that records every entry, for tests that check what the SDK logs.</summary>
internal sealed class CapturingLoggerFactory : ILoggerFactory
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<CapturedLog>> _waits = new();

    public IReadOnlyList<CapturedLog> Entries => [.. _entries];

    /// <summary>The entries with event name <paramref name="eventName"/>.</summary>
    public IReadOnlyList<CapturedLog> Named(string eventName) => [.. _entries.Where(e => e.EventId.Name == eventName)];

    /// <summary>Completes with the first entry of event <paramref name="eventId"/> (one already recorded included).</summary>
    public Task<CapturedLog> FirstAsync(int eventId)
    {
        var wait = _waits.GetOrAdd(eventId, _ => new TaskCompletionSource<CapturedLog>(TaskCreationOptions.RunContinuationsAsynchronously));
        foreach (var e in _entries)
        {
            if (e.EventId.Id == eventId) wait.TrySetResult(e);
        }

        return wait.Task;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private void Add(CapturedLog entry)
    {
        _entries.Enqueue(entry);
        if (_waits.TryGetValue(entry.EventId.Id, out var wait)) wait.TrySetResult(entry);
    }

    private sealed class Logger(CapturingLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Add(new CapturedLog(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
