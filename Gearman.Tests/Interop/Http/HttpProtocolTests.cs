using System.Net;
using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Conformance;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop.Http;

/// <summary>
/// gearmand's HTTP job protocol (<c>-r http --http-port</c>): the same requests against the real gearmand 1.1.20 and
/// ours, with a raw Gearman worker on the other side. Where we deliberately differ (docs/monitoring.md), the test is ours only.
/// </summary>
[Trait("Category", "Interop")]
public sealed class HttpProtocolTests
{
    private static readonly ServerStartOptions WithHttp = new() { Http = true };

    [Theory]
    [BothServers]
    public async Task Post_answers_with_the_workers_result_handle_and_command(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind, WithHttp);
        using var http = Client(s.Server);
        string fn = TestNames.Unique("http_rev");
        var (answer, worker) = await SubmitAndGrabAsync(s, fn, "hello", () => http.PostAsync(fn, new ByteArrayContent("hello"u8.ToArray()), TestContext.Current.CancellationToken));
        await worker.SendAsync(PacketType.WorkComplete, s.Handle(1), "olleh");

        using var response = await answer;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(s.Handle(1), Header(response, "X-Gearman-Job-Handle"));
        Assert.Equal("WORK_COMPLETE", Header(response, "X-Gearman-Command"));
        Assert.Equal(5, response.Content.Headers.ContentLength);
        Assert.Equal("olleh", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.StartsWith("Gearman/1.1.20", response.Headers.Server.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [BothServers]
    public async Task Get_submits_an_empty_workload(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind, WithHttp);
        using var http = Client(s.Server);
        string fn = TestNames.Unique("http_get");
        var (answer, worker) = await SubmitAndGrabAsync(s, fn, string.Empty, () => http.GetAsync(fn, TestContext.Current.CancellationToken));
        await worker.SendAsync(PacketType.WorkComplete, s.Handle(1), string.Empty);

        using var response = await answer;
        Assert.Equal("WORK_COMPLETE", Header(response, "X-Gearman-Command"));
        Assert.Equal(0, response.Content.Headers.ContentLength);
    }

    [Theory]
    [BothServers]
    public async Task Background_header_answers_job_created_at_once_and_the_job_stays_queued(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind, WithHttp);
        using var http = Client(s.Server);
        string fn = TestNames.Unique("http_bg");
        using var response = await http.SendAsync(Request(HttpMethod.Put, fn, "abc", ("X-Gearman-Background", "true")), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(s.Handle(1), Header(response, "X-Gearman-Job-Handle"));
        Assert.Equal("JOB_CREATED", Header(response, "X-Gearman-Command"));
        Assert.Equal(0, response.Content.Headers.ContentLength);
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(s.Handle(1), fn, "abc");
    }

    [Theory]
    [BothServers]
    public async Task Priority_and_unique_headers_are_honoured(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind, WithHttp);
        using var http = Client(s.Server);
        string fn = TestNames.Unique("http_prio");
        string unique = TestNames.Unique("u");
        using var low = await http.SendAsync(Request(HttpMethod.Post, fn, "low", ("X-Gearman-Background", "true"), ("X-Gearman-Priority", "LOW")), TestContext.Current.CancellationToken);
        using var high = await http.SendAsync(Request(HttpMethod.Post, fn, "high", ("X-Gearman-Background", "true"), ("X-Gearman-Priority", "high"), ("X-Gearman-Unique", unique)), TestContext.Current.CancellationToken);
        using var again = await http.SendAsync(Request(HttpMethod.Post, fn, "again", ("X-Gearman-Background", "true"), ("X-Gearman-Unique", unique)), TestContext.Current.CancellationToken);

        // The second submit with the same unique ID joined the high-priority job.
        Assert.Equal(Header(high, "X-Gearman-Job-Handle"), Header(again, "X-Gearman-Job-Handle"));
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(s.Handle(2), fn, "high");
        await worker.GrabExpectAsync(s.Handle(1), fn, "low");
    }

    [Theory]
    [BothServers]
    public async Task Work_fail_is_answered_with_an_empty_body(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind, WithHttp);
        using var http = Client(s.Server);
        string fn = TestNames.Unique("http_fail");
        var (answer, worker) = await SubmitAndGrabAsync(s, fn, "x", () => http.PostAsync(fn, new ByteArrayContent("x"u8.ToArray()), TestContext.Current.CancellationToken));
        await worker.SendAsync(PacketType.WorkFail, s.Handle(1));

        using var response = await answer;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("WORK_FAIL", Header(response, "X-Gearman-Command"));
        Assert.Equal(0, response.Content.Headers.ContentLength);
    }

    [Theory]
    [BothServers]
    public async Task A_path_without_a_function_is_404_not_found(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind, WithHttp);
        using var http = Client(s.Server);
        using var response = await http.PostAsync("/", new ByteArrayContent("x"u8.ToArray()), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("NOT_FOUND", response.ReasonPhrase);
    }

    [Fact]
    public async Task Bad_requests_get_a_4xx_with_a_reason()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithHttp with { MaxPacketSize = 1024 });
        using var http = Client(s.Server);
        string fn = TestNames.Unique("http_bad");
        var ct = TestContext.Current.CancellationToken;

        using var delete = await http.DeleteAsync(fn, ct);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, delete.StatusCode);
        Assert.Contains("GET, POST, PUT or HEAD", await delete.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);

        using var priority = await http.SendAsync(Request(HttpMethod.Post, fn, "x", ("X-Gearman-Priority", "urgent")), ct);
        Assert.Equal(HttpStatusCode.BadRequest, priority.StatusCode);
        Assert.Contains("urgent", await priority.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);

        using var large = await http.PostAsync(fn, new ByteArrayContent(new byte[2048]), ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, large.StatusCode);
        Assert.Contains("1024", await large.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);

        // None of them reached the scheduler.
        Assert.Null(await AdminProbe.StatusOfAsync(s.Server, fn));
    }

    [Fact]
    public async Task Http11_keeps_the_connection_and_accepts_chunked_bodies()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithHttp);
        string fn = TestNames.Unique("http_keep");
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, s.Server.HttpPort!.Value, TestContext.Current.CancellationToken);
        string chunked = $"POST /{fn} HTTP/1.1\r\nHost: x\r\nX-Gearman-Background: true\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        string sized = $"POST /{fn} HTTP/1.1\r\nHost: x\r\nX-Gearman-Background: true\r\nContent-Length: 2\r\n\r\nfg";
        var bytes = Encoding.ASCII.GetBytes(chunked + sized);
        await socket.SendAsync(bytes, TestContext.Current.CancellationToken);

        string answers = await ReadUntilAsync(socket, text => CountOf(text, "JOB_CREATED") == 2);
        Assert.Contains($"X-Gearman-Job-Handle: {s.Handle(1)}", answers, StringComparison.Ordinal);
        Assert.Contains($"X-Gearman-Job-Handle: {s.Handle(2)}", answers, StringComparison.Ordinal);
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(s.Handle(1), fn, "abcde");
    }

    [Fact]
    public async Task A_client_that_disconnects_while_waiting_abandons_its_queued_job()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithHttp);
        string fn = TestNames.Unique("http_gone");
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, s.Server.HttpPort!.Value, TestContext.Current.CancellationToken);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /{fn} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"), TestContext.Current.CancellationToken);
            await AdminProbe.WaitForStatusAsync(s.Server, fn, f => f.Total == 1, "one queued job", ct: TestContext.Current.CancellationToken);
        }

        await AdminProbe.WaitForStatusAsync(s.Server, fn, f => f.Total == 0, "the job abandoned", ct: TestContext.Current.CancellationToken);
        var worker = await s.WorkerAsync(fn);
        await worker.ExpectNoJobAsync();
    }

    [Fact]
    public async Task Stopping_the_server_ends_a_waiting_request_at_once()
    {
        var server = await InProcessServer.StartAsync(WithHttp, TestContext.Current.CancellationToken);
        using var http = Client(server);
        string fn = TestNames.Unique("http_stop");
        var answer = http.PostAsync(fn, new ByteArrayContent("x"u8.ToArray()), TestContext.Current.CancellationToken);
        await AdminProbe.WaitForStatusAsync(server, fn, f => f.Total == 1, "one queued job", ct: TestContext.Current.CancellationToken);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await server.DisposeAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the stop took {clock.Elapsed}");
        var ended = await Record.ExceptionAsync(async () =>
        {
            using var response = await answer;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        });
        Assert.True(ended is null or HttpRequestException, $"unexpected: {ended}");
    }

    [Fact]
    public async Task Work_data_is_sent_in_front_of_the_result()
    {
        // gearmand 1.1.20 writes WORK_DATA over its own header (a bug); we answer what it means to send.
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, WithHttp);
        using var http = Client(s.Server);
        string fn = TestNames.Unique("http_data");
        var (answer, worker) = await SubmitAndGrabAsync(s, fn, "x", () => http.PostAsync(fn, new ByteArrayContent("x"u8.ToArray()), TestContext.Current.CancellationToken));
        await worker.SendAsync(PacketType.WorkData, s.Handle(1), "AB");
        await worker.SendAsync(PacketType.WorkStatus, s.Handle(1), "1", "2");
        await worker.SendAsync(PacketType.WorkData, s.Handle(1), "CD");
        await worker.SendAsync(PacketType.WorkComplete, s.Handle(1), "EF");

        using var response = await answer;
        Assert.Equal("WORK_COMPLETE", Header(response, "X-Gearman-Command"));
        Assert.Equal("ABCDEF", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>Sends <paramref name="send"/>, waits until its job is queued, and has a new worker grab it (the server's first job).</summary>
    private static async Task<(Task<HttpResponseMessage> Answer, RawGearmanConnection Worker)> SubmitAndGrabAsync(ConformanceSession s, string fn, string data, Func<Task<HttpResponseMessage>> send)
    {
        var answer = send();
        await AdminProbe.WaitForStatusAsync(s.Server, fn, f => f.Total == 1, "one queued job", ct: TestContext.Current.CancellationToken);
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(s.Handle(1), fn, data);
        return (answer, worker);
    }

    private static HttpClient Client(IServerUnderTest server)
        => new() { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };

    private static HttpRequestMessage Request(HttpMethod method, string function, string body, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(method, function) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        return request;
    }

    private static string? Header(HttpResponseMessage response, string name)
        => response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    private static int CountOf(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    private static async Task<string> ReadUntilAsync(Socket socket, Func<string, bool> done)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!done(text.ToString()))
        {
            int n = await socket.ReceiveAsync(buffer, timeout.Token);
            if (n == 0) throw new InvalidOperationException($"The server closed the connection after: {text}");
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return text.ToString();
    }
}
