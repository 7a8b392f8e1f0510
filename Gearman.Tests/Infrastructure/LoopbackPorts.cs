using System.Net;
using System.Net.Sockets;

namespace Gearman.Tests.Infrastructure;

/// <summary>Loopback ports for tests.</summary>
internal static class LoopbackPorts
{
    /// <summary>A port nothing listens on right now: taken from an ephemeral listener that is then stopped.</summary>
    public static int Unused()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
