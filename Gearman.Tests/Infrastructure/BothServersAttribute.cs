using System.Reflection;
using Xunit;
using Xunit.Sdk;
using Xunit.v3;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Runs a theory twice, against the reference gearmand and against this project's server, passing the
/// <see cref="ServerKind"/> as the theory's only argument: one attribute instead of an
/// <c>[InlineData(ServerKind.Gearmand)]</c>, <c>[InlineData(ServerKind.Ours)]</c> pair. Theories with more arguments
/// keep their <c>InlineData</c> rows.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class BothServersAttribute : DataAttribute
{
    private static readonly IReadOnlyCollection<ITheoryDataRow> Rows =
        [new TheoryDataRow(ServerKind.Gearmand), new TheoryDataRow(ServerKind.Ours)];

    /// <inheritdoc/>
    public override ValueTask<IReadOnlyCollection<ITheoryDataRow>> GetData(MethodInfo testMethod, DisposalTracker disposalTracker) =>
        new(Rows);

    /// <inheritdoc/>
    public override bool SupportsDiscoveryEnumeration() => true;
}
