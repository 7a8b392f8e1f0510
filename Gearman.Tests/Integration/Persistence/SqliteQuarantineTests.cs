using System.Globalization;
using Gearman.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Gearman.Tests.Integration.Persistence;

/// <summary>
/// The server always starts from its SQLite store: rows it cannot load (written here directly, as another program or
/// a hand edit would) move to the quarantine table with their reason, and every other row replays.
/// </summary>
public sealed class SqliteQuarantineTests : IDisposable
{
    private readonly TempDirectory _directory = new("quarantine");

    private string Database => _directory.File("queue.db");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Rows_that_cannot_be_loaded_are_quarantined_with_their_reason_and_the_rest_replays()
    {
        string fn = TestNames.Unique("quar");
        await using (var server = await StartAsync())
        await using (var client = await RawGearmanConnection.ConnectAsync(server))
        {
            await RawJobs.SubmitBackgroundAsync(client, fn, "good", "kept");
        }

        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        long farButValid = now + (long)TimeSpan.FromDays(60).TotalSeconds;
        Insert(100, $"X'{Hex(fn)}'", "X'6661'", 1, farButValid.ToString(CultureInfo.InvariantCulture)); // replays: 60 days is within the horizon
        Insert(101, "'text, not a blob'", "X''", 1, "0");
        Insert(102, $"X'{Hex(fn)}'", "X''", 7, "0");
        Insert(103, $"X'{Hex(fn)}'", "X''", 1, "10000000000000000");
        Insert(104, $"X'{Hex(fn)}'", $"X'{Hex(new string('u', 65))}'", 1, "0");
        Insert(105, $"X'{Hex(fn)}'", "X''", 1, "1.5");

        await using (var server = await StartAsync())
        await using (var admin = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Equal(2, await RawJobs.QueuedAsync(admin, fn));
        }

        Assert.Equal(["good", "fa"], RawJobs.ReadSqlite(Database).Select(r => r.Unique));
        var quarantined = Quarantined();
        Assert.Equal([101L, 102L, 103L, 104L, 105L], quarantined.Select(q => q.Id));
        Assert.Contains("function_name is the text 'text, not a blob', not a blob", quarantined[0].Reason, StringComparison.Ordinal);
        Assert.Contains("priority 7", quarantined[1].Reason, StringComparison.Ordinal);
        Assert.Contains("epoch 10000000000000000 is more than 315360000 s", quarantined[2].Reason, StringComparison.Ordinal);
        Assert.Contains("unique ID has 65 bytes", quarantined[3].Reason, StringComparison.Ordinal);
        Assert.Contains("when_epoch is the real number 1.5", quarantined[4].Reason, StringComparison.Ordinal);

        // Moved once: the next start finds nothing new to quarantine and replays the same jobs.
        await using (var server = await StartAsync())
        await using (var admin = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Equal(2, await RawJobs.QueuedAsync(admin, fn));
        }

        Assert.Equal(5, Quarantined().Count);
    }

    private static string Hex(string text) => Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(text));

    private Task<IServerUnderTest> StartAsync()
        => TestServers.StartAsync(ServerKind.Ours, new ServerStartOptions { QueueType = "sqlite", SqliteDatabase = Database }, TestContext.Current.CancellationToken);

    private void Insert(long id, string function, string unique, int priority, string epoch)
        => Execute($"INSERT INTO gearman_jobs (id, function_name, unique_key, reducer, priority, when_epoch, data, retries) VALUES ({id}, {function}, {unique}, X'', {priority}, {epoch}, X'64', 0)");

    private void Execute(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private List<(long Id, string Reason)> Quarantined()
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, reason FROM gearman_jobs_quarantine ORDER BY quarantine_id";
        using var reader = command.ExecuteReader();
        var rows = new List<(long, string)>();
        while (reader.Read()) rows.Add((reader.GetInt64(0), reader.GetString(1)));
        return rows;
    }
}
