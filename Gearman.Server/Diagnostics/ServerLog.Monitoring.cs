using Microsoft.Extensions.Logging;

namespace Gearman.Server.Diagnostics;

/// <summary>Events 600-699: HTTP ports, monitoring and the shutdown drain.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(600, LogLevel.Warning, "Stopping with {Running} job(s) still running after the --shutdown-timeout drain of {Seconds} s", EventName = "DrainTimedOut")]
    public static partial void DrainTimedOut(ILogger logger, int running, double seconds);
}
