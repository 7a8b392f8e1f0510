using System.Collections.Concurrent;
using Gearman.Reactive.Client;
using Microsoft.Extensions.Options;

namespace Gearman.Reactive.Hosting;

/// <summary>One <see cref="GearmanClient"/> per registered name, built from <see cref="IOptionsMonitor{TOptions}"/>.</summary>
internal sealed class GearmanClientFactory(IOptionsMonitor<GearmanClientOptions> options, GearmanClientNames names) : IGearmanClientFactory, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<GearmanClient>> _clients = new(StringComparer.Ordinal);
    private int _disposed;

    public GearmanClient GetClient(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!names.Contains(name)) throw new InvalidOperationException($"No Gearman client is registered under the name '{name}'.");
        return _clients.GetOrAdd(name, n => new Lazy<GearmanClient>(() => new GearmanClient(options.Get(n)))).Value;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var client in _clients.Values)
        {
            if (client.IsValueCreated) await client.Value.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>The names clients were registered under (a singleton that each registration adds to).</summary>
internal sealed class GearmanClientNames
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public void Add(string name)
    {
        lock (_names) _names.Add(name);
    }

    public bool Contains(string name)
    {
        lock (_names) return _names.Contains(name);
    }

    /// <summary>Every registered name, in ordinal order.</summary>
    public IReadOnlyList<string> All()
    {
        lock (_names) return [.. _names.Order(StringComparer.Ordinal)];
    }
}
