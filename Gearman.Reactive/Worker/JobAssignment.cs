namespace Gearman.Reactive.Worker;

/// <summary>A job assignment copied out of the read loop's borrowed packet body.</summary>
internal sealed record JobAssignment(byte[] Handle, string HandleText, string Function, string UniqueId, string? Reducer, byte[] Workload);
