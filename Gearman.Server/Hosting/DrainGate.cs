using Microsoft.AspNetCore.Connections;

namespace Gearman.Server.Hosting;

/// <summary>
/// Closed at the start of a drain (<c>--shutdown-timeout</c>): the Kestrel transport then closes each new connection at
/// once, while the connections it already has go on (workers can still send their results).
/// </summary>
internal sealed class DrainGate
{
    private volatile bool _closed;

    public bool IsClosed => _closed;

    public void Close() => _closed = true;

    /// <summary>Kestrel connection middleware: aborts connections accepted after <see cref="Close"/>.</summary>
    public ConnectionDelegate Guard(ConnectionDelegate next) => connection =>
    {
        if (!_closed) return next(connection);
        connection.Abort(new ConnectionAbortedException("The server is draining before it stops."));
        return Task.CompletedTask;
    };
}
