using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>One job through a <see cref="GearmanWorker"/>: what the handler sees and what the client receives.</summary>
[Trait("Category", "Integration")]
public sealed class WorkerJobTests
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Echo_handler_completes_the_job_with_its_result(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_echo");
        var seen = new TaskCompletionSource<(string Function, string Handle, string Unique, string? Reducer)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await StartWorkerAsync(Options(server), fn, (job, _) =>
        {
            seen.TrySetResult((job.Function, job.Handle, job.UniqueId, job.Reducer));
            return ValueTask.FromResult(job.Workload);
        });

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string handle = await SubmitAsync(client, fn, "hello worker", unique: "u-1");
        var packets = await ReadUntilEndAsync(client);

        Assert.Equal([$"WorkComplete {handle}|hello worker"], packets.Select(Describe));
        Assert.Equal((fn, handle, "u-1", (string?)null), await seen.Task.Within());
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Data_status_and_warning_reach_the_client_in_order_before_the_result(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_chatty");
        await using var worker = await StartWorkerAsync(Options(server), fn, SendingEvents(job => "done"));

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, fn, "x");
        var packets = await ReadUntilEndAsync(client);

        Assert.Equal(
            [$"WorkData {h}|d1", $"WorkStatus {h}|1|3", $"WorkWarning {h}|careful", $"WorkStatus {h}|2|3", $"WorkData {h}|d2", $"WorkComplete {h}|done"],
            packets.Select(Describe));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_throwing_handler_sends_WORK_EXCEPTION_which_plain_clients_see_as_WORK_FAIL(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_throw");
        await using var worker = await StartWorkerAsync(Options(server), fn, (job, _) => throw new InvalidOperationException("boom: " + Text(job.Workload)));

        // A client with exceptions enabled gets the message.
        await using var aware = await RawGearmanConnection.ConnectAsync(server, Ct);
        await aware.SendAsync(PacketType.OptionReq, "exceptions");
        await aware.ExpectPacketAsync(PacketType.OptionRes, WaitLimit);
        string h1 = await SubmitAsync(aware, fn, "one");
        Assert.Equal([$"WorkException {h1}|boom: one"], (await ReadUntilEndAsync(aware)).Select(Describe));

        // A plain client gets WORK_FAIL (gearmand appends a NUL to the handle; protocol.md §2.9).
        await using var plain = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h2 = await SubmitAsync(plain, fn, "two");
        var fail = Assert.Single(await ReadUntilEndAsync(plain));
        Assert.Equal(PacketType.WorkFail, (PacketType)fail.Type);
        Assert.Equal(h2, fail.BodyText.TrimEnd('\0'));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Without_SendExceptions_a_throwing_handler_sends_WORK_FAIL(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_fail");
        await using var worker = await StartWorkerAsync(Options(server) with { SendExceptions = false }, fn, (_, _) => throw new InvalidOperationException("hidden"));

        await using var aware = await RawGearmanConnection.ConnectAsync(server, Ct);
        await aware.SendAsync(PacketType.OptionReq, "exceptions");
        await aware.ExpectPacketAsync(PacketType.OptionRes, WaitLimit);
        string h = await SubmitAsync(aware, fn, "x");
        Assert.Equal([$"WorkFail {h}"], (await ReadUntilEndAsync(aware)).Select(Describe));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_job_ends_exactly_once(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_once");
        var outcomes = new TaskCompletionSource<bool[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await StartWorkerAsync(Options(server), fn, async (job, ct) =>
        {
            bool first = await job.CompleteAsync(Bytes("first"), ct);
            bool second = await job.FailAsync(ct);
            bool third = await job.FailWithExceptionAsync("late", ct);
            await job.SendDataAsync(Bytes("ignored"), ct); // after the end: dropped
            outcomes.SetResult([first, second, third, job.IsEnded]);
            return Bytes("also ignored");
        });

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, fn, "x");
        Assert.Equal([$"WorkComplete {h}|first"], (await ReadUntilEndAsync(client)).Select(Describe));
        Assert.Equal(new[] { true, false, false, true }, await outcomes.Task.Within());

        // Nothing else follows: a second job's packets come next on this connection.
        string h2 = await SubmitAsync(client, fn, "y");
        Assert.Equal([$"WorkComplete {h2}|first"], (await ReadUntilEndAsync(client)).Select(Describe));
    }
}
