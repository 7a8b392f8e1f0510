namespace Gearman.Server.Persistence;

/// <summary>
/// The job store's settings can never work as given (a SQLite file in a directory that does not exist, a table with
/// another layout, a PostgreSQL login that is refused or a database that does not exist): the server does not start,
/// unlike when the database is merely unreachable, which it rides out (see <see cref="JobStoreWriter"/>).
/// </summary>
internal sealed class JobStoreConfigurationException : Exception
{
    public JobStoreConfigurationException()
    {
    }

    public JobStoreConfigurationException(string message)
        : base(message)
    {
    }

    public JobStoreConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
