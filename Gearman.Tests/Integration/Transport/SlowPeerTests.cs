using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Transport;

/// <summary>
/// <c>--max-unsent-bytes</c> as a hard bound on both transports: a worker that pipelines GRAB_JOB and never reads is
/// closed before its unsent replies exceed the cap by more than one packet, while a control client keeps being served.
/// </summary>
public sealed class SlowPeerTests
{
    private const int Limit = 2 << 20;
    private const int JobSize = 512 << 10;
    private const int Jobs = 40;

    /// <summary>Generous: the point is that the control client is never stuck behind the hog (it was 1.15 s and 2.4 s).</summary>
    private static readonly TimeSpan MaxControlLatency = TimeSpan.FromMilliseconds(500);

    [Theory]
    [MemberData(nameof(TransportServers.Names), MemberType = typeof(TransportServers))]
    public async Task A_worker_that_grabs_and_never_reads_is_closed_within_one_packet_of_the_cap_and_others_do_not_stall(string transport)
    {
        var logs = new LogCapture();
        await using var server = await TransportServers.StartAsync(transport, o => o with { MaxUnsentBytes = Limit }, logs);
        string fn = TestNames.Unique("hog");
        var payload = new byte[JobSize];
        await using (var client = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken))
        {
            for (int i = 0; i < Jobs; i++)
            {
                await client.SendAsync(PacketMagic.Request, PacketType.SubmitJobBg, Encoding.ASCII.GetBytes(fn), [], payload);
                await client.ExpectPacketAsync(PacketType.JobCreated);
            }
        }

        await using var control = await RawGearmanConnection.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        for (int i = 0; i < 20; i++)
        {
            await control.SendAsync(PacketType.EchoReq, "warm-up");
            await control.ExpectPacketAsync(PacketType.EchoRes);
        }

        var worst = TimeSpan.Zero;
        int echoes = 0;
        int stopAfter = int.MaxValue;
        var measuring = Task.Run(async () =>
        {
            var clock = new Stopwatch();
            while (echoes < Volatile.Read(ref stopAfter))
            {
                clock.Restart();
                await control.SendAsync(PacketType.EchoReq, "ping");
                await control.ExpectPacketAsync(PacketType.EchoRes);
                if (clock.Elapsed > worst) worst = clock.Elapsed;
                echoes++;
            }
        });

        // The hog: a tiny receive buffer, every grab in one write, and not a byte read.
        using var hog = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await hog.ConnectAsync("127.0.0.1", server.EndPoint.Port, TestContext.Current.CancellationToken);
        var grabs = new List<byte>(RawGearmanConnection.Encode(PacketType.CanDo, fn));
        for (int i = 0; i < Jobs; i++) grabs.AddRange(RawGearmanConnection.Encode(PacketType.GrabJob));
        await hog.SendAsync(grabs.ToArray(), SocketFlags.None, TestContext.Current.CancellationToken);

        var closed = await logs.FirstAsync("UnsentLimitExceeded").WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        long unsent = Convert.ToInt64(closed.Values["Unsent"], System.Globalization.CultureInfo.InvariantCulture);
        int packet = PacketReader.HeaderLength + JobSize + 64;
        Assert.True(unsent <= Limit + packet, $"closed only at {unsent} unsent bytes (cap {Limit}, one packet {packet})");

        // Keep measuring a little after the close: the requeue of the hog's jobs must not stall anyone either.
        Volatile.Write(ref stopAfter, Volatile.Read(ref echoes) + 50);
        await measuring.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper?.WriteLine($"{transport}: closed at {unsent} unsent bytes; worst control echo {worst.TotalMilliseconds:F1} ms over {echoes} echoes");
        Assert.True(worst < MaxControlLatency, $"a control echo took {worst.TotalMilliseconds:F1} ms");
        Assert.Single(logs.Named("UnsentLimitExceeded"));
    }
}
