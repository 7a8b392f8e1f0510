using Microsoft.Extensions.Options;

namespace Gearman.Reactive.Hosting;

/// <summary>
/// Builds the immutable Gearman options records for <see cref="IOptions{TOptions}"/> and <see cref="IOptionsMonitor{TOptions}"/>:
/// each named instance starts from the defaults with the container's logger factory and clock, then goes through the
/// registered <see cref="GearmanOptionsTransform{TOptions}"/>s of that name in order (configuration binding, <c>with</c>
/// delegates); the ordinary configure, post-configure and validate steps then run as for any options type.
/// </summary>
internal sealed class GearmanOptionsFactory<TOptions>(
    Func<IServiceProvider, TOptions> defaults,
    IServiceProvider services,
    IEnumerable<GearmanOptionsTransform<TOptions>> transforms,
    IEnumerable<IConfigureOptions<TOptions>> setups,
    IEnumerable<IPostConfigureOptions<TOptions>> postConfigures,
    IEnumerable<IValidateOptions<TOptions>> validations)
    : OptionsFactory<TOptions>(setups, postConfigures, validations)
    where TOptions : class
{
    protected override TOptions CreateInstance(string name)
    {
        var options = defaults(services);
        foreach (var transform in transforms)
        {
            if (transform.Name == name) options = transform.Apply(options) ?? throw new InvalidOperationException($"A Gearman options delegate for '{name}' returned null.");
        }

        return options;
    }
}
