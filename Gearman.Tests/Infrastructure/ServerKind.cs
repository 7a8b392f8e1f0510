namespace Gearman.Tests.Infrastructure;

/// <summary>Which job server a test runs against.</summary>
public enum ServerKind
{
    /// <summary>The reference server, Debian's <c>/usr/sbin/gearmand</c> (1.1.20), run as a child process.</summary>
    Gearmand,

    /// <summary>This project's server (<c>Gearman.Server</c>), started in-process.</summary>
    Ours,
}
