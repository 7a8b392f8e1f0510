using System.CommandLine;
using Gearman.Server.Security;

namespace Gearman.Server.Hosting;

/// <summary>The TLS and access-control part of the command line: gearmand's <c>--ssl*</c> flags and ours beside them (docs/security.md).</summary>
internal sealed class SecurityOptions
{
    private readonly Option<bool> _ssl = new("--ssl") { Description = "Serve --port over TLS only (1.2 or 1.3); needs --ssl-certificate and --ssl-key." };
    private readonly Option<string?> _caFile = new("--ssl-ca-file") { Description = "PEM file of the certificate authorities client certificates must chain to." };
    private readonly Option<string?> _certificate = new("--ssl-certificate") { Description = "PEM file of the server certificate (then any intermediates)." };
    private readonly Option<string?> _key = new("--ssl-key") { Description = "PEM file of the server certificate's private key (default: read from --ssl-certificate)." };
    private readonly Option<string> _clientCert = new("--ssl-client-cert")
    {
        Description = "Client certificates: 'none' (default; not asked for), 'optional' (verified against --ssl-ca-file if sent) or 'required'.",
        DefaultValueFactory = _ => "none",
    };

    private readonly Option<double> _handshakeTimeout = new("--ssl-handshake-timeout")
    {
        Description = "Seconds a TLS handshake may take before the connection is closed (default 10).",
        DefaultValueFactory = _ => ServerTlsOptions.DefaultHandshakeTimeout.TotalSeconds,
    };

    private readonly Option<int?> _plainPort = new("--plain-port") { Description = "With --ssl: also serve plaintext on this port (e.g. for local admin tools)." };
    private readonly Option<string> _plainListen = new("--plain-listen")
    {
        Description = "Address of the --plain-port listener (default 127.0.0.1).",
        DefaultValueFactory = _ => "127.0.0.1",
    };

    private readonly Option<string?> _accessRules = new("--access-rules") { Description = "JSON file of what each client-certificate identity may do (default: everything is allowed)." };

    public void AddTo(RootCommand root)
    {
        foreach (var option in new Option[] { _ssl, _caFile, _certificate, _key, _clientCert, _handshakeTimeout, _plainPort, _plainListen, _accessRules })
        {
            root.Options.Add(option);
        }
    }

    /// <summary>Reads and checks the options; <paramref name="error"/> says what is wrong, for the command line to print.</summary>
    public bool TryParse(ParseResult result, out ServerTlsOptions? tls, out string? accessRules, out string? error)
    {
        tls = null;
        accessRules = result.GetValue(_accessRules);
        error = null;
        string mode = result.GetValue(_clientCert)!;
        ClientCertificateMode? clientCertificate = mode.ToLowerInvariant() switch
        {
            "none" => ClientCertificateMode.None,
            "optional" => ClientCertificateMode.Optional,
            "required" => ClientCertificateMode.Required,
            _ => null,
        };
        if (clientCertificate is null)
        {
            error = $"Invalid --ssl-client-cert '{mode}': expected none, optional or required.";
            return false;
        }

        double timeout = result.GetValue(_handshakeTimeout);
        if (!(timeout > 0))
        {
            error = "--ssl-handshake-timeout must be a positive number of seconds.";
            return false;
        }

        if (!result.GetValue(_ssl))
        {
            foreach (var option in new Option[] { _caFile, _certificate, _key, _plainPort })
            {
                if (result.GetResult(option) is { Implicit: false })
                {
                    error = $"{option.Name} needs --ssl.";
                    return false;
                }
            }

            if (clientCertificate != ClientCertificateMode.None)
            {
                error = "--ssl-client-cert needs --ssl.";
                return false;
            }

            return true;
        }

        if (result.GetValue(_certificate) is not { } certificate)
        {
            error = "--ssl needs --ssl-certificate FILE (and --ssl-key FILE unless the key is in that file).";
            return false;
        }

        if (result.GetValue(_plainPort) is < 0 or > 65535)
        {
            error = "--plain-port must be a port number.";
            return false;
        }

        tls = new ServerTlsOptions
        {
            CertificateFile = certificate,
            KeyFile = result.GetValue(_key),
            CaFile = result.GetValue(_caFile),
            ClientCertificate = clientCertificate.Value,
            HandshakeTimeout = TimeSpan.FromSeconds(timeout),
            PlaintextPort = result.GetValue(_plainPort),
            PlaintextListenAddress = result.GetValue(_plainListen)!,
        };
        return true;
    }
}
