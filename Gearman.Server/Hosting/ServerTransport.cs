namespace Gearman.Server.Hosting;

/// <summary>How the server does its socket I/O (<c>--transport</c>).</summary>
internal enum ServerTransport
{
    /// <summary><see cref="Epoll"/> where it is supported (Linux on x64 or arm64), <see cref="Kestrel"/> elsewhere.</summary>
    Auto,

    /// <summary>Dedicated epoll threads over raw non-blocking sockets, with direct sends (Networking/Epoll).</summary>
    Epoll,

    /// <summary>Kestrel's socket transport and System.IO.Pipelines (Networking/GearmanConnectionHandler).</summary>
    Kestrel,
}
