using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Gearman.Tests.Infrastructure;

/// <summary>A logger provider that keeps every event with its structured values, for tests that assert on what was logged.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Entry>> _firsts = new();

    /// <summary>Everything logged so far, in order.</summary>
    public IReadOnlyList<Entry> Entries => [.. _entries];

    /// <summary>The events named <paramref name="eventName"/>.</summary>
    public IReadOnlyList<Entry> Named(string eventName) => [.. _entries.Where(e => e.EventName == eventName)];

    /// <summary>Completes with the first event named <paramref name="eventName"/> (already logged or still to come).</summary>
    public Task<Entry> FirstAsync(string eventName)
    {
        var first = _firsts.GetOrAdd(eventName, _ => new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (_entries.FirstOrDefault(e => e.EventName == eventName) is { } logged) first.TrySetResult(logged);
        return first.Task;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    /// <summary>One event: its name, message and named values.</summary>
    internal sealed record Entry(string? EventName, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Values, Exception? Exception);

    private sealed class Logger(LogCapture owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? pairs.ToDictionary(p => p.Key, p => p.Value) : [];
            var entry = new Entry(eventId.Name, logLevel, formatter(state, exception), values, exception);
            owner._entries.Enqueue(entry);
            if (eventId.Name is { } name && owner._firsts.TryGetValue(name, out var first)) first.TrySetResult(entry);
        }
    }
}
