namespace Gearman.Server.Persistence;

/// <summary>A stored row that could not be loaded and was moved to the quarantine table, with the reason.</summary>
internal readonly record struct QuarantinedRow(long Id, string Reason);
