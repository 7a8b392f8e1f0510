namespace Gearman.Reactive;

/// <summary>The root of every failure this library reports.</summary>
public class GearmanException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    public GearmanException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public GearmanException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A job server could not be reached, or the connection to it was lost.</summary>
public sealed class GearmanConnectionException : GearmanException
{
    /// <summary>Creates an exception with a message.</summary>
    public GearmanConnectionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public GearmanConnectionException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A peer sent bytes that are not valid Gearman protocol.</summary>
public sealed class GearmanProtocolException : GearmanException
{
    /// <summary>Creates an exception with a message.</summary>
    public GearmanProtocolException(string message)
        : base(message)
    {
    }
}

/// <summary>A job server answered with an ERROR packet.</summary>
public sealed class GearmanServerErrorException : GearmanException
{
    /// <summary>Creates an exception for an ERROR packet.</summary>
    /// <param name="code">The error code, such as <c>QUEUE_ERROR</c>.</param>
    /// <param name="text">The server's text.</param>
    public GearmanServerErrorException(string code, string text)
        : base($"The job server answered {code}: {text}")
    {
        Code = code;
        Text = text;
    }

    /// <summary>The error code, such as <c>QUEUE_ERROR</c> or <c>JOB_NOT_FOUND</c>.</summary>
    public string Code { get; }

    /// <summary>The server's explanation.</summary>
    public string Text { get; }
}

/// <summary>A job ended with WORK_FAIL.</summary>
public sealed class GearmanJobFailedException : GearmanException
{
    /// <summary>Creates an exception for a failed job.</summary>
    /// <param name="function">The function the job was submitted to.</param>
    /// <param name="handle">The job handle.</param>
    public GearmanJobFailedException(string function, string handle)
        : base($"Job {handle} of function '{function}' failed (WORK_FAIL).")
    {
        Function = function;
        Handle = handle;
    }

    /// <summary>The function the job was submitted to.</summary>
    public string Function { get; }

    /// <summary>The job handle.</summary>
    public string Handle { get; }
}

/// <summary>A job ended with WORK_EXCEPTION; <see cref="ExceptionData"/> holds what the worker sent.</summary>
public sealed class GearmanJobException : GearmanException
{
    /// <summary>Creates an exception for a job that raised an exception.</summary>
    /// <param name="function">The function the job was submitted to.</param>
    /// <param name="handle">The job handle.</param>
    /// <param name="exceptionData">The bytes of the WORK_EXCEPTION packet's data part.</param>
    public GearmanJobException(string function, string handle, ReadOnlyMemory<byte> exceptionData)
        : base($"Job {handle} of function '{function}' raised an exception: {System.Text.Encoding.UTF8.GetString(exceptionData.Span)}")
    {
        Function = function;
        Handle = handle;
        ExceptionData = exceptionData;
    }

    /// <summary>The function the job was submitted to.</summary>
    public string Function { get; }

    /// <summary>The job handle.</summary>
    public string Handle { get; }

    /// <summary>The worker's exception payload, usually a UTF-8 message.</summary>
    public ReadOnlyMemory<byte> ExceptionData { get; }
}

/// <summary>
/// Thrown by a worker's handler (<c>AddFunction</c> or <c>AddMapper</c>) to give its job back to the job server, which
/// runs it again, on this or another worker: libgearman's <c>GEARMAN_ERROR</c>, for transient failures. The worker
/// closes the connection the job arrived on and reconnects; the server requeues every job that connection held and
/// counts a retry for each (gearmand's <c>--job-retries</c> bounds them; once reached, the client gets WORK_FAIL).
/// </summary>
public sealed class GearmanJobRetryException : GearmanException
{
    /// <summary>Creates the exception with a message saying why the job should run again (it is logged, not sent).</summary>
    public GearmanJobRetryException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the transient failure that caused it.</summary>
    public GearmanJobRetryException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
