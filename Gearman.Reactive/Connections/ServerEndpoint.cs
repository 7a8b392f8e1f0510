using System.Globalization;

namespace Gearman.Reactive.Connections;

/// <summary>A job server address, parsed from <c>host[:port]</c> (port 0 or missing means 4730, as libgearman does).</summary>
internal readonly record struct ServerEndpoint(string Host, int Port)
{
    public const int DefaultPort = 4730;

    public static ServerEndpoint Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        text = text.Trim();
        string host = text;
        int port = DefaultPort;

        // [v6]:port, v4:port, name:port; a bare IPv6 address has several colons and no port.
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0) throw new FormatException($"Invalid job server address '{text}': missing ']'.");
            host = text[1..close];
            if (close + 1 < text.Length)
            {
                if (text[close + 1] != ':') throw new FormatException($"Invalid job server address '{text}'.");
                port = ParsePort(text, text[(close + 2)..]);
            }
        }
        else
        {
            int colon = text.LastIndexOf(':');
            if (colon > 0 && text.IndexOf(':') == colon)
            {
                host = text[..colon];
                port = ParsePort(text, text[(colon + 1)..]);
            }
        }

        if (host.Length == 0) throw new FormatException($"Invalid job server address '{text}': empty host.");
        return new ServerEndpoint(host, port == 0 ? DefaultPort : port);
    }

    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    private static int ParsePort(string text, string port)
    {
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value > 65535)
        {
            throw new FormatException($"Invalid port in job server address '{text}'.");
        }

        return value;
    }
}
