namespace Gearman.Reactive.Protocol;

/// <summary>The 4-byte magic that opens every binary packet.</summary>
internal enum PacketMagic : uint
{
    /// <summary>Not a Gearman packet.</summary>
    Invalid = 0,

    /// <summary><c>\0REQ</c>: sent to a job server.</summary>
    Request = 0x00524551,

    /// <summary><c>\0RES</c>: sent by a job server.</summary>
    Response = 0x00524553,
}
