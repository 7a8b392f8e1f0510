namespace Gearman.Server.Networking;

/// <summary>Outcome of <see cref="RequestFramer.PostNext"/>.</summary>
internal enum FrameStatus
{
    /// <summary>No complete request at the start of the buffer; nothing was consumed.</summary>
    Incomplete,

    /// <summary>One request was consumed and posted.</summary>
    Posted,

    /// <summary>The stream broke the protocol: stop reading (after the post, if any) and close the connection.</summary>
    Close,
}
