using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Microsoft.Data.Sqlite;

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
        command.CommandText = $"SELECT id, function_name, unique_key, reducer, priority, when_epoch, data FROM {table} ORDER BY id";
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
                Text(reader, 6)));
        }

        return rows;
    }

    private static string Text(SqliteDataReader reader, int ordinal) => System.Text.Encoding.UTF8.GetString((byte[])reader.GetValue(ordinal));

    /// <summary>A job as a worker received it.</summary>
    internal sealed record Assigned(string Handle, string Function, string Unique, string Data);

    /// <summary>A stored row as text.</summary>
    internal sealed record Row(long Id, string Function, string Unique, string Reducer, int Priority, long Epoch, string Data);
}
