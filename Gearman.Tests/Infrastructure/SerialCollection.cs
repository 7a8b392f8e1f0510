using Xunit;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Tests that must not run beside others: they need the machine's cores to themselves (a large fan-out's timing, a
/// browser that must start within its session timeout). xunit runs this collection after the parallel ones.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial (not beside other tests)";
}
