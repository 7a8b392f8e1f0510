namespace Gearman.Reactive.Connections.Transports;

/// <summary>Which <see cref="ConnectionTransport"/> a connection uses.</summary>
internal enum TransportKind
{
    /// <summary><see cref="SocketThreadTransport"/> where it is supported and the connection is plaintext, else <see cref="Portable"/>.</summary>
    Automatic,

    /// <summary><see cref="StreamTransport"/>: .NET's asynchronous sockets and pipes, on every OS.</summary>
    Portable,
}
