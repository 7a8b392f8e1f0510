namespace Gearman.Reactive;

/// <summary>
/// The outcome of one <c>ECHO_REQ</c>/<c>ECHO_RES</c> round trip to a job server, as reported by
/// <see cref="Client.GearmanClient.PingAsync"/> and <see cref="Worker.GearmanWorker.PingAsync"/>.
/// </summary>
/// <param name="Server">The server as configured (<c>host[:port]</c>).</param>
/// <param name="RoundTrip">The time from connecting to the echo coming back; zero when it failed.</param>
/// <param name="Error">Why the round trip failed, or null when it succeeded.</param>
public sealed record GearmanPingResult(string Server, TimeSpan RoundTrip, Exception? Error)
{
    /// <summary>True when the server echoed the probe back unchanged.</summary>
    public bool Succeeded => Error is null;
}
