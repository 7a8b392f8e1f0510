namespace Gearman.Server.Persistence;

/// <summary>The job store settings are invalid or can never work (<see cref="JobStoreConfigurationException"/>): the server does not start.</summary>
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
