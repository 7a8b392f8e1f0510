namespace Gearman.Server.Scheduling;

/// <summary>Queue priority; the values are gearmand's (and its persistent store's) numbering.</summary>
internal enum JobPriority
{
    High = 0,
    Normal = 1,
    Low = 2,
}
