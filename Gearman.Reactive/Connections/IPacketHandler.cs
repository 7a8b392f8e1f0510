using System.Buffers;
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

    /// <summary>
    /// How much of the body of a packet over the size limit the handler wants to see before the rest is discarded; 0
    /// (the default) refuses the packet, which closes the connection with a <see cref="GearmanProtocolException"/>.
    /// </summary>
    int OversizedHeadLength(PacketType type) => 0;

    /// <summary>
    /// A packet over the size limit whose type <see cref="OversizedHeadLength"/> accepted: <paramref name="head"/> is
    /// the start of its body (borrowed, as for <see cref="OnPacket"/>); the rest is read and discarded, never buffered.
    /// An exception thrown here closes the connection with that exception.
    /// </summary>
    void OnOversizedPacket(GearmanConnection connection, PacketType type, uint size, in ReadOnlySequence<byte> head)
    {
    }

    /// <summary>The connection ended: <paramref name="error"/> is null for an orderly close or a local dispose.</summary>
    void OnClosed(GearmanConnection connection, Exception? error);
}
