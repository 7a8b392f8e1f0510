using System.Runtime.CompilerServices;
using Gearman.Server.Scheduling;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Every test runs with the server's returned request buffers poisoned, so that a job (or anything else) still reading
/// a buffer after it went back to the pool sees garbage at once instead of another packet's plausible bytes.
/// </summary>
internal static class PoisonedBuffers
{
#pragma warning disable CA2255 // A module initializer is the point: the switch must be on before any test starts a server.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void TurnOn() => RequestBuffers.PoisonReturned = true;
}
