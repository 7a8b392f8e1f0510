namespace Gearman.Reactive.Hosting;

/// <summary>One step that derives the options of the named client or worker from the previous ones.</summary>
internal sealed record GearmanOptionsTransform<TOptions>(string Name, Func<TOptions, TOptions> Apply);
