using Gearman.Server.Hosting;
using Gearman.Server.Security;
using Microsoft.Extensions.Logging;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Our server in-process with TLS on its main port (<see cref="Port"/>) and a plaintext loopback listener
/// (<see cref="Plaintext"/>, for admin probes), on the transport a test names; what it logs is captured.
/// </summary>
internal sealed class TlsTestServer : IServerUnderTest
{
    private readonly GearmanServer _server;
    private int _disposed;

    private TlsTestServer(GearmanServer server, LogCapture log)
    {
        _server = server;
        Logs = log;
        Port = server.EndPoint.Port;
        Plaintext = new PlaintextView(this, server.PlaintextEndPoint!.Port);
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public ServerKind Kind => ServerKind.Ours;

    public int ProcessId => Environment.ProcessId;

    public string Log => Logs.ToString();

    /// <summary>The server's log events.</summary>
    public LogCapture Logs { get; }

    /// <summary>The same server through its plaintext listener.</summary>
    public IServerUnderTest Plaintext { get; }

    public GearmanServer Server => _server;

    /// <summary>Starts it (on <paramref name="port"/>, 0 for a free one); <paramref name="transport"/> is <c>epoll</c> or <c>kestrel</c> (null: the suite's <see cref="TestServers.Transport"/>).</summary>
    public static async Task<TlsTestServer> StartAsync(
        TestCertificates certificates, string? transport = null, ClientCertificateMode clientCertificate = ClientCertificateMode.None, string? accessRules = null, TimeSpan? handshakeTimeout = null, int port = 0)
    {
        var log = new LogCapture();
        using var timeout = new CancellationTokenSource(TestServers.StartTimeout);
        var server = await GearmanServer.StartAsync(
            new GearmanServerOptions
            {
                Port = port,
                ListenAddress = "127.0.0.1",
                QueueType = Gearman.Server.Persistence.QueueType.Memory,
                Transport = transport switch
                {
                    null => TestServers.Transport,
                    "epoll" => ServerTransport.Epoll,
                    "kestrel" => ServerTransport.Kestrel,
                    _ => throw new ArgumentException($"Unknown transport '{transport}'.", nameof(transport)),
                },
                Tls = new ServerTlsOptions
                {
                    CertificateFile = certificates.ServerCertificateFile,
                    KeyFile = certificates.ServerKeyFile,
                    CaFile = certificates.CaFile,
                    ClientCertificate = clientCertificate,
                    HandshakeTimeout = handshakeTimeout ?? ServerTlsOptions.DefaultHandshakeTimeout,
                    PlaintextPort = 0,
                },
                AccessRulesFile = accessRules,
            },
            timeout.Token,
            logging => logging.SetMinimumLevel(LogLevel.Debug).AddProvider(log));
        return new TlsTestServer(server, log);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _server.DisposeAsync();
    }

    public override string ToString() => $"ours with TLS at {Host}:{Port} ({_server.Transport})";

    private sealed class PlaintextView(TlsTestServer server, int port) : IServerUnderTest
    {
        public string Host => server.Host;

        public int Port => port;

        public ServerKind Kind => ServerKind.Ours;

        public int ProcessId => server.ProcessId;

        public string Log => server.Log;

        public ValueTask DisposeAsync() => server.DisposeAsync();
    }
}

/// <summary>Log events captured by name, with a way to await them.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly Lock _lock = new();
    private readonly List<(string Event, string Message)> _events = [];
    private readonly List<(string Event, int Count, TaskCompletionSource<IReadOnlyList<string>> Done)> _waiters = [];

    /// <summary>The messages logged under <paramref name="eventName"/> so far.</summary>
    public IReadOnlyList<string> Messages(string eventName)
    {
        lock (_lock) return [.. _events.Where(e => e.Event == eventName).Select(e => e.Message)];
    }

    /// <summary>Completes with the first message of <paramref name="eventName"/> (already logged or still to come).</summary>
    public async Task<string> WaitForAsync(string eventName, TimeSpan timeout) => (await WaitForCountAsync(eventName, 1, timeout))[0];

    /// <summary>Completes with the messages of <paramref name="eventName"/> once there are at least <paramref name="count"/>.</summary>
    public Task<IReadOnlyList<string>> WaitForCountAsync(string eventName, int count, TimeSpan timeout)
    {
        var done = new TaskCompletionSource<IReadOnlyList<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            var messages = Messages(eventName);
            if (messages.Count >= count) return Task.FromResult(messages);
            _waiters.Add((eventName, count, done));
        }

        return done.Task.WaitAsync(timeout);
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    public override string ToString()
    {
        lock (_lock) return string.Join('\n', _events.Select(e => $"[{e.Event}] {e.Message}"));
    }

    private void Add(string eventName, string message)
    {
        lock (_lock)
        {
            _events.Add((eventName, message));
            var messages = Messages(eventName);
            foreach (var waiter in _waiters.Where(w => w.Event == eventName && messages.Count >= w.Count).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Done.TrySetResult(messages);
            }
        }
    }

    private sealed class Logger(LogCapture capture) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => capture.Add(eventId.Name ?? eventId.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), formatter(state, exception));
    }
}
