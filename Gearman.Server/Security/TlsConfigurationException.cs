namespace Gearman.Server.Security;

/// <summary>A TLS or access-rules file that cannot be used: missing, unreadable, or not what it should be.</summary>
internal sealed class TlsConfigurationException : Exception
{
    public TlsConfigurationException(string message)
        : base(message)
    {
    }

    public TlsConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
