namespace Gearman.Server.Hosting;

/// <summary>
/// How the runtime's socket layer runs the server's I/O. Both settings are environment variables that the runtime reads
/// once, when the process creates its first socket, so <see cref="Configure"/> must run before that (the command line
/// does it first thing). An in-process server (tests) keeps the runtime's defaults and is merely slower.
/// </summary>
internal static class SocketThreading
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>
    /// Socket completions run on the epoll thread that saw them (no hop to the thread pool), so with Kestrel's inline
    /// scheduling a request is read, processed and answered on that one thread, like gearmand's I/O thread.
    /// <paramref name="ioThreads"/> epoll threads share the connections (gearmand's <c>--threads</c>); 0 means one, because
    /// the scheduler is single-threaded and more threads only parallelise socket reads and writes. A variable the user has
    /// set already is left alone.
    /// </summary>
    public static void Configure(int ioThreads)
    {
        SetDefault(InlineCompletions, "1");
        SetDefault(ThreadCount, Math.Max(1, ioThreads).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static void SetDefault(string name, string value)
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(name))) Environment.SetEnvironmentVariable(name, value);
    }
}
