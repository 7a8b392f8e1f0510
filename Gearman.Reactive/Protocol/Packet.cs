using System.Buffers;

namespace Gearman.Reactive.Protocol;

/// <summary>
/// One framed binary packet. <see cref="Body"/> is borrowed from the reader's buffer and is valid only
/// until the reader advances; copy what must outlive that.
/// </summary>
internal readonly struct Packet(PacketMagic magic, PacketType type, ReadOnlySequence<byte> body)
{
    public PacketMagic Magic { get; } = magic;

    public PacketType Type { get; } = type;

    public ReadOnlySequence<byte> Body { get; } = body;

    /// <summary>Splits <see cref="Body"/> into the fields of <see cref="Type"/>'s layout.</summary>
    public bool TrySplit(out PacketFields fields) => PacketFields.TrySplit(Type, Body, out fields);
}
