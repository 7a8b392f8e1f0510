using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Connections;

/// <summary>Receives what a <see cref="GearmanConnection"/> reads. Called only from the connection's read loop.</summary>
internal interface IPacketHandler
{
    /// <summary>
    /// Handles one packet. The body is borrowed and valid only during the call: copy what must outlive it.
    /// An exception thrown here closes the connection with that exception.
    /// </summary>
    void OnPacket(GearmanConnection connection, in Packet packet);

    /// <summary>The connection ended: <paramref name="error"/> is null for an orderly close or a local dispose.</summary>
    void OnClosed(GearmanConnection connection, Exception? error);
}
