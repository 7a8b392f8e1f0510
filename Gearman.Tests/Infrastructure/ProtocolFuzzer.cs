using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A seeded protocol fuzzer for a running job server: connections that send binary packets of every type with mutated
/// sizes, separators, numbers and magic, admin lines with garbage arguments, and mixes of both, while a control client
/// and worker run echo jobs that must all complete. Everything random comes from one seed, so a failure names the seed
/// that reproduces it. Used by the test suite (a few seconds) and by <c>Gearman.Benchmarks fuzz</c> (as long as asked).
/// </summary>
internal sealed class ProtocolFuzzer
{
    /// <summary>How long one control echo job may take before the run fails.</summary>
    public static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(10);

    private static readonly string[] Functions = ["f", "g", string.Empty, "fuzz", "x\0y"];

    private static readonly string[] Numbers =
    [
        "0", "-1", "1", "999", "1000", "4294967296", "10000000000000000", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "18446744073709551616", "99999999999999999999999", "abc", "1e20", "1.5", " 12", "+7", string.Empty,
    ];

    private static readonly string[] AdminCommands =
    [
        "status", "workers", "prioritystatus", "version", "getpid", "verbose", "show jobs", "show unique jobs", "cancel job",
        "maxqueue", "create function", "drop function", "shutdown", "show", "cancel", "   ", string.Empty,
    ];

    private readonly string _host;
    private readonly int _port;
    private readonly int _seed;
    private readonly string _controlFunction;

    public ProtocolFuzzer(string host, int port, int seed)
    {
        _host = host;
        _port = port;
        _seed = seed;
        _controlFunction = $"fuzz_control_{seed.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>A seed for a run: <c>GEARMAN_FUZZ_SEED</c> when set (to reproduce a failure), else a fresh one.</summary>
    public static int ChooseSeed()
        => int.TryParse(Environment.GetEnvironmentVariable("GEARMAN_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed)
            ? seed
            : Random.Shared.Next();

    /// <summary>
    /// Fuzzes for <paramref name="duration"/> with <paramref name="parallel"/> connections at a time; throws
    /// <see cref="FuzzFailureException"/> (naming the seed) when a control echo fails or the server stops answering.
    /// </summary>
    public async Task<FuzzReport> RunAsync(TimeSpan duration, int parallel, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(duration);
        long connections = 0;
        long packets = 0;
        var fuzzers = Enumerable.Range(0, parallel).Select(lane => Task.Run(
            async () =>
            {
                var random = new Random(HashCode.Combine(_seed, lane));
                while (!stop.IsCancellationRequested)
                {
                    Interlocked.Add(ref packets, await FuzzOneConnectionAsync(random, stop.Token).ConfigureAwait(false));
                    Interlocked.Increment(ref connections);
                }
            },
            CancellationToken.None)).ToArray();

        FuzzReport control;
        try
        {
            control = await RunControlAsync(stop.Token).ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(fuzzers).ConfigureAwait(false);
        }

        return control with { Connections = connections, Packets = packets };
    }

    /// <summary>Connects, sends a random burst while a reader discards replies, and closes (or is closed).</summary>
    private async Task<long> FuzzOneConnectionAsync(Random random, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_host, _port, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return 0;
        }

        var draining = DrainAsync(socket);
        int count = random.Next(1, 40);
        long sent = 0;
        var output = new ArrayBufferWriter<byte>();
        try
        {
            for (int i = 0; i < count && !cancellationToken.IsCancellationRequested; i++)
            {
                output.ResetWrittenCount();
                WriteRandomUnit(random, output);
                await socket.SendAsync(output.WrittenMemory, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                sent++;
            }

            if (random.Next(4) == 0) socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The server closed a connection that sent garbage: expected.
        }

        socket.Close();
        await draining.ConfigureAwait(false);
        return sent;
    }

    private static async Task DrainAsync(Socket socket)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 << 10);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One binary packet (well formed or mutated), one admin line, or a mix.</summary>
    private static void WriteRandomUnit(Random random, ArrayBufferWriter<byte> output)
    {
        switch (random.Next(10))
        {
            case < 6:
                WritePacket(random, output);
                break;
            case < 9:
                WriteAdminLine(random, output);
                break;
            default:
                WriteAdminLine(random, output);
                WritePacket(random, output);
                output.Write(RandomBytes(random, random.Next(0, 64)));
                break;
        }
    }

    private static void WritePacket(Random random, ArrayBufferWriter<byte> output)
    {
        uint type = random.Next(20) switch
        {
            0 => (uint)random.Next(43, 1000),
            1 => 0x80000000u + (uint)random.Next(),
            2 => uint.MaxValue,
            3 => 0,
            _ => (uint)random.Next(1, 43),
        };
        int fields = PacketLayout.IsDefined((PacketType)type) ? PacketLayout.Of((PacketType)type).Fields : random.Next(0, 4);
        var body = new ArrayBufferWriter<byte>();
        for (int i = 0; i < fields; i++)
        {
            body.Write(Encoding.ASCII.GetBytes(RandomField(random, i)));
            bool separator = i < fields - 1 && random.Next(15) != 0; // sometimes a NUL too few
            if (separator) body.Write((byte[])[0]);
        }

        if (random.Next(10) == 0) body.Write((byte[])[0]); // sometimes a NUL too many

        uint magic = random.Next(25) switch
        {
            0 => 0x00524553, // a response magic on a request
            1 => (uint)random.Next(),
            _ => 0x00524551,
        };
        uint size = (uint)body.WrittenCount;
        switch (random.Next(25))
        {
            case 0: size = uint.MaxValue; break;
            case 1: size += (uint)random.Next(1, 100); break; // the body never fully arrives
            case 2: size = size > 0 ? size - 1 : 0; break; // the next unit starts inside this one
            case 3: size = 0x7FFFFFFF; break;
        }

        Span<byte> header = stackalloc byte[PacketReader.HeaderLength];
        BinaryPrimitives.WriteUInt32BigEndian(header, magic);
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], type);
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], size);
        output.Write(header);
        output.Write(body.WrittenSpan);
    }

    private static string RandomField(Random random, int index) => random.Next(6) switch
    {
        0 => Numbers[random.Next(Numbers.Length)],
        1 => Functions[random.Next(Functions.Length)],
        2 => "H:fuzz:" + random.Next(100).ToString(CultureInfo.InvariantCulture),
        3 => new string('u', random.Next(60, 70)),
        4 => string.Empty,
        _ => index == 0 ? Functions[random.Next(Functions.Length)] : Encoding.Latin1.GetString(RandomBytes(random, random.Next(0, 40))).Replace('\0', 'z'),
    };

    private static void WriteAdminLine(Random random, ArrayBufferWriter<byte> output)
    {
        var line = new StringBuilder(AdminCommands[random.Next(AdminCommands.Length)]);
        int extra = random.Next(0, 5);
        for (int i = 0; i < extra; i++) line.Append(' ').Append(random.Next(2) == 0 ? Numbers[random.Next(Numbers.Length)] : Functions[random.Next(Functions.Length)]);
        if (random.Next(30) == 0) line.Append('x', 9000); // longer than any admin line may be
        line.Append(random.Next(3) == 0 ? "\n" : "\r\n");

        // An admin line must not start with NUL (that would be a packet); the function "x\0y" may put one later.
        output.Write(Encoding.Latin1.GetBytes(line.ToString().TrimStart('\0')));
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Echo jobs through a control client and worker until the run ends; each must come back intact and in time.</summary>
    private async Task<FuzzReport> RunControlAsync(CancellationToken cancellationToken)
    {
        using var worker = await ConnectControlAsync().ConfigureAwait(false);
        using var client = await ConnectControlAsync().ConfigureAwait(false);
        var workerReader = new ControlReader(worker);
        var clientReader = new ControlReader(client);
        await SendAsync(worker, PacketType.CanDo, _controlFunction).ConfigureAwait(false);
        long completed = 0;
        var worst = TimeSpan.Zero;
        var clock = new Stopwatch();
        for (long i = 0; !cancellationToken.IsCancellationRequested; i++)
        {
            string data = "echo " + i.ToString(CultureInfo.InvariantCulture);
            clock.Restart();
            using var timeout = new CancellationTokenSource(ControlTimeout);
            try
            {
                await SendAsync(client, PacketType.SubmitJob, _controlFunction, string.Empty, data).ConfigureAwait(false);
                var created = await clientReader.ExpectAsync(PacketType.JobCreated, timeout.Token).ConfigureAwait(false);
                string handle = Encoding.ASCII.GetString(created);
                await SendAsync(worker, PacketType.GrabJob).ConfigureAwait(false);
                var assigned = await workerReader.ExpectAsync(PacketType.JobAssign, timeout.Token).ConfigureAwait(false);
                string expected = $"{handle}\0{_controlFunction}\0{data}";
                if (Encoding.ASCII.GetString(assigned) != expected) throw Fail($"control worker got [{Encoding.ASCII.GetString(assigned)}], expected [{expected}]");
                await SendAsync(worker, PacketType.WorkComplete, handle, data).ConfigureAwait(false);
                var result = await clientReader.ExpectAsync(PacketType.WorkComplete, timeout.Token).ConfigureAwait(false);
                if (Encoding.ASCII.GetString(result) != $"{handle}\0{data}") throw Fail($"control client got [{Encoding.ASCII.GetString(result)}] for {handle}");
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                throw Fail($"control echo {i} took longer than {ControlTimeout.TotalSeconds} s");
            }
            catch (Exception ex) when (ex is SocketException or EndOfStreamException or IOException)
            {
                throw Fail($"the control connection failed at echo {i}: {ex.Message}");
            }

            if (clock.Elapsed > worst) worst = clock.Elapsed;
            completed++;
        }

        return new FuzzReport(_seed, completed, worst, 0, 0);
    }

    private FuzzFailureException Fail(string what) => new($"Protocol fuzzing with seed {_seed.ToString(CultureInfo.InvariantCulture)} failed: {what}. Reproduce with GEARMAN_FUZZ_SEED={_seed.ToString(CultureInfo.InvariantCulture)}.");

    private async Task<Socket> ConnectControlAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_host, _port).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw Fail($"the control client could not connect: {ex.Message}");
        }

        return socket;
    }

    private static async Task SendAsync(Socket socket, PacketType type, params string[] fields)
    {
        var output = new ArrayBufferWriter<byte>();
        byte[] body = Encoding.ASCII.GetBytes(string.Join('\0', fields));
        var header = new byte[PacketReader.HeaderLength];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)PacketMagic.Request);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), (uint)body.Length);
        output.Write(header);
        output.Write(body);
        await socket.SendAsync(output.WrittenMemory, SocketFlags.None).ConfigureAwait(false);
    }

    /// <summary>Reads response packets from a control socket.</summary>
    private sealed class ControlReader(Socket socket)
    {
        private readonly byte[] _buffer = new byte[64 << 10];
        private int _length;

        public async Task<byte[]> ExpectAsync(PacketType type, CancellationToken cancellationToken)
        {
            while (true)
            {
                var sequence = new ReadOnlySequence<byte>(_buffer, 0, _length);
                if (PacketReader.TryRead(ref sequence, (uint)_buffer.Length, out var packet, out _) == PacketReadStatus.Packet)
                {
                    byte[] body = packet.Body.ToArray();
                    var actual = packet.Type;
                    int consumed = _length - (int)sequence.Length;
                    _buffer.AsSpan(consumed, _length - consumed).CopyTo(_buffer);
                    _length -= consumed;
                    if (actual == PacketType.Noop) continue;
                    if (actual != type) throw new IOException($"expected {type}, got {actual} [{Encoding.ASCII.GetString(body)}]");
                    return body;
                }

                int n = await socket.ReceiveAsync(_buffer.AsMemory(_length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (n == 0) throw new EndOfStreamException("the server closed the control connection");
                _length += n;
            }
        }
    }
}

/// <summary>What a fuzzing run did: echo jobs completed, the slowest, fuzz connections and units sent.</summary>
internal sealed record FuzzReport(int Seed, long ControlEchoes, TimeSpan WorstControlEcho, long Connections, long Packets);

/// <summary>A fuzzing run found a fault; the message names the seed.</summary>
internal sealed class FuzzFailureException(string message) : Exception(message);
