namespace Gearman.Reactive.Client;

/// <summary>
/// Identifies a job: the handle its job server assigned (for example <c>H:host:42</c>) and that server
/// (as <c>host:port</c>, matching one of <see cref="GearmanClientOptions.Servers"/>). Handles are only unique per
/// server and are reused after a server restarts.
/// </summary>
/// <param name="Server">The job server that holds the job, as <c>host:port</c>.</param>
/// <param name="Handle">The server's handle for the job.</param>
public readonly record struct JobHandle(string Server, string Handle)
{
    /// <summary>The handle and its server, as <c>handle@host:port</c>.</summary>
    public override string ToString() => $"{Handle}@{Server}";
}
