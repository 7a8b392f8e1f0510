using System.Diagnostics.CodeAnalysis;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;
using Microsoft.Extensions.Configuration;

namespace Gearman.Reactive.Hosting;

/// <summary>
/// Binds a configuration section onto a copy of the options. A <c>Servers</c> list in the section replaces the
/// default list instead of being appended to it (the configuration binder appends to a collection that already has
/// items), so <c>Gearman:Servers:0 = gm1:4730</c> means exactly one server.
/// </summary>
internal static class GearmanConfigurationBinder
{
    internal const string TrimmingMessage = "Binding configuration uses reflection over the options records.";

    [RequiresUnreferencedCode(TrimmingMessage)]
    [RequiresDynamicCode(TrimmingMessage)]
    public static GearmanClientOptions Bind(IConfiguration section, GearmanClientOptions options)
        => BindInto(section, HasServers(section) ? options with { Servers = [] } : options with { });

    [RequiresUnreferencedCode(TrimmingMessage)]
    [RequiresDynamicCode(TrimmingMessage)]
    public static GearmanWorkerOptions Bind(IConfiguration section, GearmanWorkerOptions options)
        => BindInto(section, HasServers(section) ? options with { Servers = [] } : options with { });

    /// <summary>Binds onto <paramref name="copy"/>, a fresh copy; an unknown key throws, naming it.</summary>
    [RequiresUnreferencedCode(TrimmingMessage)]
    [RequiresDynamicCode(TrimmingMessage)]
    private static T BindInto<T>(IConfiguration section, T copy)
        where T : class
    {
        section.Bind(copy, o => o.ErrorOnUnknownConfiguration = true);
        return copy;
    }

    private static bool HasServers(IConfiguration section)
    {
        var servers = section.GetSection(nameof(IGearmanConnectionOptions.Servers));
        return servers.Value is not null || servers.GetChildren().Any();
    }
}
