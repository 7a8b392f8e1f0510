using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>The end of a connection, shared by the transports and the HTTP job gateway.</summary>
internal sealed partial class JobScheduler
{
    /// <summary>
    /// Reports that <paramref name="peer"/> is gone (when it was announced with <c>Connected</c>) so that its jobs are
    /// abandoned or requeued; once the scheduler has stopped, or for a peer it never saw, only completes its outbox.
    /// Not cancellable: the scheduler must learn about every disconnect.
    /// </summary>
    public async ValueTask DisconnectAsync(PeerConnection peer, bool announced)
    {
        if (!announced)
        {
            peer.Complete();
            return;
        }

        try
        {
            await PostAsync(ServerCommand.ForDisconnected(peer)).ConfigureAwait(false);
            Drain();
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            peer.Complete();
        }
    }
}
