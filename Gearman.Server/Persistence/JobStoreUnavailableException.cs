namespace Gearman.Server.Persistence;

/// <summary>The job store could not be opened or read when the server started; the server does not start without it.</summary>
internal sealed class JobStoreUnavailableException : Exception
{
    public JobStoreUnavailableException()
    {
    }

    public JobStoreUnavailableException(string message)
        : base(message)
    {
    }

    public JobStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
