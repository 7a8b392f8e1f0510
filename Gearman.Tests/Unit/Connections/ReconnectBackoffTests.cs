using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Worker;
using Xunit;

namespace Gearman.Tests.Unit.Connections;

/// <summary>The one reconnect back-off and the connection defaults that clients and workers share.</summary>
[Trait("Category", "Unit")]
public sealed class ReconnectBackoffTests
{
    [Fact]
    public void Client_and_worker_have_the_same_connection_defaults()
    {
        IGearmanConnectionOptions client = GearmanClientOptions.Default;
        IGearmanConnectionOptions worker = GearmanWorkerOptions.Default;

        Assert.Equal(client.Servers, worker.Servers);
        Assert.Equal(client.ConnectTimeout, worker.ConnectTimeout);
        Assert.Equal((TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10)), (client.ReconnectDelay, client.MaxReconnectDelay));
        Assert.Equal((client.ReconnectDelay, client.MaxReconnectDelay), (worker.ReconnectDelay, worker.MaxReconnectDelay));
        Assert.Equal(client.MaxPacketSize, worker.MaxPacketSize);
        Assert.Equal(client.ClientId, worker.ClientId);
    }

    [Fact]
    public void The_pause_is_jittered_within_twenty_percent_and_not_always_the_same()
    {
        var delay = TimeSpan.FromSeconds(1);
        var pauses = Enumerable.Range(0, 200).Select(_ => ReconnectBackoff.Jittered(delay)).ToList();

        Assert.All(pauses, p => Assert.InRange(p, TimeSpan.FromMilliseconds(800), TimeSpan.FromMilliseconds(1200)));
        Assert.True(pauses.Distinct().Count() > 1, "every pause was the same: no jitter");
    }

    [Fact]
    public void The_back_off_doubles_up_to_the_maximum()
    {
        var max = TimeSpan.FromSeconds(1);
        var delay = TimeSpan.FromMilliseconds(300);

        delay = ReconnectBackoff.Next(delay, max);
        Assert.Equal(TimeSpan.FromMilliseconds(600), delay);
        Assert.Equal(max, ReconnectBackoff.Next(delay, max));
    }
}
