using System.Reflection;
using Gearman.Reactive.Client;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Gearman.Tests.Unit.Client;

/// <summary>
/// Every [LoggerMessage] of the SDK has an event ID in its component's range (listed in docs/client.md,
/// docs/worker.md and docs/mapreduce.md) and no two events share an ID, so a log filter by ID means one thing.
/// </summary>
[Trait("Category", "Unit")]
public sealed class SdkLogEventTests
{
    [Fact]
    public void Client_worker_and_map_reduce_events_have_their_own_ranges_and_distinct_ids()
    {
        var events = typeof(GearmanClient).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(e => e.Attribute is not null)
            .Select(e => (Namespace: e.Method.DeclaringType!.Namespace!, Id: e.Attribute!.EventId, Name: e.Attribute.EventName))
            .ToList();

        Assert.NotEmpty(events);
        foreach (var (ns, id, name) in events)
        {
            var (low, high) = ns switch
            {
                "Gearman.Reactive.Worker" => (2000, 2099),
                "Gearman.Reactive.MapReduce" => (2100, 2149),
                "Gearman.Reactive.Client" => (2200, 2299),
                _ => (0, -1),
            };
            Assert.True(id >= low && id <= high, $"{ns} event {name} has ID {id}, outside {low}-{high}");
        }

        Assert.Equal(events.Count, events.Select(e => e.Id).Distinct().Count());
        Assert.Equal(events.Count, events.Select(e => e.Name).Distinct().Count());
    }
}
