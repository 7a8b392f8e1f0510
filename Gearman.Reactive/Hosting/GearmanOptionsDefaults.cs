using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gearman.Reactive.Hosting;

/// <summary>
/// Where options from a container start: the record defaults with the container's <see cref="ILoggerFactory"/> and
/// <see cref="TimeProvider"/> (when it has them), for clients and workers alike.
/// </summary>
internal static class GearmanOptionsDefaults
{
    public static GearmanClientOptions Client(IServiceProvider services) => GearmanClientOptions.Default with
    {
        LoggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
        TimeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System,
    };

    public static GearmanWorkerOptions Worker(IServiceProvider services) => GearmanWorkerOptions.Default with
    {
        LoggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
        TimeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System,
    };

    /// <summary>
    /// Makes <see cref="IOptions{TOptions}"/> of <typeparamref name="TOptions"/> start from <paramref name="defaults"/>
    /// and apply <paramref name="transform"/> (when given) to the instance named <paramref name="name"/>.
    /// </summary>
    public static void AddOptions<TOptions>(IServiceCollection services, string name, Func<IServiceProvider, TOptions> defaults, Func<TOptions, TOptions>? transform)
        where TOptions : class
    {
        services.AddOptions();

        // A closed registration wins over the open-generic OptionsFactory<> that AddOptions adds.
        services.TryAddTransient<IOptionsFactory<TOptions>>(provider => new GearmanOptionsFactory<TOptions>(
            defaults,
            provider,
            provider.GetServices<GearmanOptionsTransform<TOptions>>(),
            provider.GetServices<IConfigureOptions<TOptions>>(),
            provider.GetServices<IPostConfigureOptions<TOptions>>(),
            provider.GetServices<IValidateOptions<TOptions>>()));
        if (transform is not null) services.AddSingleton(new GearmanOptionsTransform<TOptions>(name, transform));
    }
}
