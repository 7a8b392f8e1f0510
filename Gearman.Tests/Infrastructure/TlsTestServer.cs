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
