using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>Raw-packet client and worker steps shared by the persistence tests.</summary>
internal static class RawJobs
{
    /// <summary>Sends a background submit (SUBMIT_JOB_BG unless told otherwise) and returns the handle from JOB_CREATED.</summary>
    public static async Task<string> SubmitBackgroundAsync(RawGearmanConnection client, string function, string unique, string data, PacketType type = PacketType.SubmitJobBg)
    {
        await client.SendAsync(type, function, unique, data);
        return (await client.ExpectPacketAsync(PacketType.JobCreated)).BodyText;
    }

    /// <summary>GRAB_JOB_UNIQ: the assigned job, or null on NO_JOB.</summary>
    public static async Task<Assigned?> GrabAsync(RawGearmanConnection worker)
    {
        await worker.SendAsync(PacketType.GrabJobUniq);
        var packet = await worker.ReadPacketAsync();
        if (packet.Type == (uint)PacketType.NoJob) return null;
        if (packet.Type != (uint)PacketType.JobAssignUniq) throw new InvalidDataException($"Expected JOB_ASSIGN_UNIQ or NO_JOB, got {packet}");
        var f = packet.Strings();
        return new Assigned(f[0], f[1], f[2], f[3]);
    }

    /// <summary>
    /// Sends WORK_COMPLETE for <paramref name="handle"/> and waits until the server has processed it (an ECHO round trip
    /// on the same connection), so a test that stops the server next does not race the completion.
    /// </summary>
    public static async Task CompleteAsync(RawGearmanConnection worker, string handle, string result = "ok")
    {
        await worker.SendAsync(PacketType.WorkComplete, handle, result);
        string token = "completed " + handle;
        await worker.SendAsync(PacketType.EchoReq, token);
        var reply = await worker.ReadPacketAsync();
        if (reply.Type != (uint)PacketType.EchoRes || reply.BodyText != token) throw new InvalidDataException($"Expected ECHO_RES {token}, got {reply}");
    }

    /// <summary>An ECHO round trip: every request sent before on <paramref name="connection"/> has been processed.</summary>
    public static async Task RoundTripAsync(RawGearmanConnection connection)
    {
        string token = "round trip " + Guid.NewGuid().ToString("N");
        await connection.SendAsync(PacketType.EchoReq, token);
        var reply = await connection.ReadPacketAsync();
        if (reply.Type != (uint)PacketType.EchoRes || reply.BodyText != token) throw new InvalidDataException($"Expected ECHO_RES {token}, got {reply}");
    }

    /// <summary>The RETRIES column of admin <c>show jobs</c> for <paramref name="handle"/>, or null when it is not listed.</summary>
    public static async Task<int?> RetriesAsync(RawGearmanConnection admin, string handle)
    {
        foreach (var line in await admin.AdminListAsync("show jobs"))
        {
            var parts = line.Split('\t');
            if (parts[0] == handle) return int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }

        return null;
    }

    /// <summary>
    /// With <c>--job-retries 2</c> (a job runs at most twice): a job that lost its worker once before a restart is
    /// dropped when it loses its worker once after it, exactly as without the restart; a job whose worker was cut off
    /// by the server's own shutdown keeps its count (the stop is not the job's failure). <paramref name="start"/> starts
    /// a server with that limit on one store; <paramref name="rows"/> reads that store as (unique, retries) in id order.
    /// </summary>
    public static async Task RetryCountsSurviveARestartAsync(Func<Task<IServerUnderTest>> start, Func<Task<IReadOnlyList<(string Unique, int Retries)>>> rows)
    {
        string fn = TestNames.Unique("retry");
        string held = TestNames.Unique("held");
        await using (var server = await start())
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        await using (var holder = await RawGearmanConnection.ConnectAsync(server))
        {
            await SubmitBackgroundAsync(client, fn, "r", "fails");
            await SubmitBackgroundAsync(client, held, "k", "running at shutdown");
            await worker.SendAsync(PacketType.CanDo, fn);
            var first = (await GrabAsync(worker))!;
            Assert.Equal("r", first.Unique);

            // Losing the function while running requeues the job and counts a retry, like losing the worker.
            await worker.SendAsync(PacketType.ResetAbilities);
            await RoundTripAsync(worker);
            Assert.Equal(1, await RetriesAsync(client, first.Handle));
            Assert.Equal(1, await QueuedAsync(client, fn));

            await holder.SendAsync(PacketType.CanDo, held);
            Assert.Equal("k", (await GrabAsync(holder))!.Unique);

            // The server stops while the holder still runs its job.
            await server.DisposeAsync();
        }

        // The requeue was stored; the shutdown that cut the holder off was not counted.
        Assert.Equal([("r", 1), ("k", 0)], await rows());

        await using (var server = await start())
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        await using (var worker = await RawGearmanConnection.ConnectAsync(server))
        {
            await worker.SendAsync(PacketType.CanDo, fn);
            var second = (await GrabAsync(worker))!;
            Assert.Equal("r", second.Unique);
            Assert.Equal(1, await RetriesAsync(client, second.Handle));

            // The second lost run reaches the limit: dropped and deleted, not queued a third time.
            await worker.SendAsync(PacketType.ResetAbilities);
            await RoundTripAsync(worker);
            Assert.Null(await RetriesAsync(client, second.Handle));
            Assert.Equal(0, await QueuedAsync(client, fn));
            await worker.SendAsync(PacketType.CanDo, fn);
            Assert.Null(await GrabAsync(worker));
            Assert.Equal(1, await QueuedAsync(client, held));
        }

        Assert.Equal([("k", 0)], await rows());
    }

    /// <summary>The job count admin <c>status</c> reports for <paramref name="function"/> (0 when it is not listed).</summary>
    public static async Task<int> QueuedAsync(RawGearmanConnection admin, string function)
    {
        foreach (var line in await admin.AdminListAsync("status"))
        {
            var parts = line.Split('\t');
            if (parts[0] == function) return int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }

        return 0;
    }

    /// <summary>The running count admin <c>status</c> reports for <paramref name="function"/>.</summary>
    public static async Task<int> RunningAsync(RawGearmanConnection admin, string function)
    {
        foreach (var line in await admin.AdminListAsync("status"))
        {
            var parts = line.Split('\t');
            if (parts[0] == function) return int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
        }

        return 0;
    }

    /// <summary>The rows of an SQLite queue file, read through a separate read-only connection.</summary>
    public static IReadOnlyList<Row> ReadSqlite(string path, string table = "gearman_jobs")
    {
        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        using var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data, retries FROM {table} ORDER BY id";
        using var reader = command.ExecuteReader();
        var rows = new List<Row>();
        while (reader.Read())
        {
            rows.Add(new Row(
                reader.GetInt64(0),
                Text(reader, 1),
                Text(reader, 2),
                Text(reader, 3),
                reader.GetInt32(4),
                reader.GetInt64(5),
                Text(reader, 6),
                reader.GetInt32(7)));
        }

        return rows;
    }

    private static string Text(SqliteDataReader reader, int ordinal) => System.Text.Encoding.UTF8.GetString((byte[])reader.GetValue(ordinal));

    /// <summary>A job as a worker received it.</summary>
    internal sealed record Assigned(string Handle, string Function, string Unique, string Data);

    /// <summary>A stored row as text.</summary>
    internal sealed record Row(long Id, string Function, string Unique, string Reducer, int Priority, long Epoch, string Data, int Retries);
}
