namespace Gearman.Reactive.Worker;

/// <summary>A job assignment copied out of the read loop's borrowed packet body.</summary>
internal sealed record JobAssignment(byte[] Handle, string HandleText, string Function, string UniqueId, string? Reducer, byte[] Workload)
{
    /// <summary>
    /// The declared body size of an assignment over <see cref="GearmanWorkerOptions.MaxPacketSize"/>, whose workload was
    /// discarded unread (<see cref="Workload"/> is empty); 0 for an assignment that fits.
    /// </summary>
    public uint RefusedBodySize { get; init; }
}
