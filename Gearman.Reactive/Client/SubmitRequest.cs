using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Client;

/// <summary>
/// A validated submission, shared by every subscription of one <see cref="GearmanClient.Submit"/> observable.
/// Strings are encoded straight into the outbox when the packet is written, so a submit allocates no byte arrays.
/// </summary>
internal sealed class SubmitRequest
{
    public const int MaxFunctionBytes = 512;
    public const int MaxUniqueBytes = 64;
    public const int MaxReducerBytes = 512;

    private SubmitRequest(string function, ReadOnlyMemory<byte> payload, GearmanJobOptions options, PacketType type, long epoch)
    {
        Function = function;
        Payload = payload;
        Options = options;
        Type = type;
        Epoch = epoch;
        Unique = string.IsNullOrEmpty(options.Unique) ? null : options.Unique;
        if (Unique is not null && !options.Background)
        {
            // Foreground jobs with a caller's unique ID are coalesced locally per connection (see ServerSession).
            CoalescingKey = Unique == "-"
                ? $"{function}\0-\0{Convert.ToHexString(SHA256.HashData(payload.Span))}"
                : $"{function}\0{Unique}";
        }
    }

    public string Function { get; }

    public ReadOnlyMemory<byte> Payload { get; }

    public GearmanJobOptions Options { get; }

    /// <summary>The caller's unique ID, or null when a UUID is generated per job.</summary>
    public string? Unique { get; }

    public bool Background => Options.Background;

    public PacketType Type { get; }

    public long Epoch { get; }

    /// <summary>Non-null for foreground jobs that the server may coalesce: jobs with equal keys share one server attachment.</summary>
    public string? CoalescingKey { get; }

    /// <summary>Validates eagerly (so that <c>Submit</c> throws, not the subscription) and picks the packet type.</summary>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The workload.</param>
    /// <param name="options">The job options; null for the defaults.</param>
    /// <param name="maxPacketSize">The client's <see cref="GearmanClientOptions.MaxPacketSize"/>: a larger submit packet is refused.</param>
    public static SubmitRequest Create(string function, ReadOnlyMemory<byte> payload, GearmanJobOptions? options, int maxPacketSize = int.MaxValue)
    {
        ArgumentException.ThrowIfNullOrEmpty(function);
        options ??= GearmanJobOptions.Default;
        if (Encoding.UTF8.GetByteCount(function) > MaxFunctionBytes)
        {
            throw new ArgumentException($"A function name may have at most {MaxFunctionBytes} UTF-8 bytes.", nameof(function));
        }

        PacketArgument.ThrowIfContainsNul(function, nameof(function), "A function name");
        if (options.Unique is { } unique)
        {
            if (Encoding.UTF8.GetByteCount(unique) > MaxUniqueBytes)
            {
                throw new ArgumentException($"A unique ID may have at most {MaxUniqueBytes} UTF-8 bytes (gearmand answers ARGUMENT_TOO_LARGE).", nameof(options));
            }

            PacketArgument.ThrowIfContainsNul(unique, nameof(options), "The unique ID (GearmanJobOptions.Unique)");
        }

        if (!Enum.IsDefined(options.Priority))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Priority, "Unknown job priority.");
        }

        if (options.Timeout != Timeout.InfiniteTimeSpan && options.Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Timeout, "A job timeout must be positive or infinite.");
        }

        long epoch = 0;
        PacketType type;
        if (options.Reducer is { } reducer)
        {
            if (reducer.Length == 0 || Encoding.UTF8.GetByteCount(reducer) > MaxReducerBytes)
            {
                throw new ArgumentException($"A reducer name must have 1 to {MaxReducerBytes} UTF-8 bytes.", nameof(options));
            }

            PacketArgument.ThrowIfContainsNul(reducer, nameof(options), "The reducer name (GearmanJobOptions.Reducer)");

            if (options.RunAt is not null) throw new ArgumentException("A reduce job cannot have a RunAt time.", nameof(options));
            if (options.Priority != JobPriority.Normal) throw new ArgumentException("A reduce job always runs at normal priority.", nameof(options));
            type = options.Background ? PacketType.SubmitReduceJobBackground : PacketType.SubmitReduceJob;
        }
        else if (options.RunAt is { } runAt)
        {
            if (!options.Background) throw new ArgumentException("A job with a RunAt time is a background job: set Background = true.", nameof(options));
            if (options.Priority != JobPriority.Normal) throw new ArgumentException("A job with a RunAt time always runs at normal priority.", nameof(options));
            epoch = Math.Max(0, runAt.ToUnixTimeSeconds());
            type = PacketType.SubmitJobEpoch;
        }
        else
        {
            type = (options.Priority, options.Background) switch
            {
                (JobPriority.High, false) => PacketType.SubmitJobHigh,
                (JobPriority.High, true) => PacketType.SubmitJobHighBg,
                (JobPriority.Low, false) => PacketType.SubmitJobLow,
                (JobPriority.Low, true) => PacketType.SubmitJobLowBg,
                (_, false) => PacketType.SubmitJob,
                (_, true) => PacketType.SubmitJobBg,
            };
        }

        // The body the submit packet will have (a generated unique ID is a 36-character UUID).
        long bodyLength = Encoding.UTF8.GetByteCount(function) + 1
            + (string.IsNullOrEmpty(options.Unique) ? 36 : Encoding.UTF8.GetByteCount(options.Unique)) + 1
            + type switch
            {
                PacketType.SubmitJobEpoch => (epoch < 10 ? 1 : (int)Math.Log10(epoch) + 1) + 1,
                PacketType.SubmitReduceJob or PacketType.SubmitReduceJobBackground => Encoding.UTF8.GetByteCount(options.Reducer!) + 2,
                _ => 0,
            }
            + payload.Length;
        if (bodyLength > maxPacketSize)
        {
            throw new ArgumentException(
                $"The job's packet would have {bodyLength} bytes, over MaxPacketSize ({maxPacketSize} bytes); nothing was sent. " +
                "Raise GearmanClientOptions.MaxPacketSize (and the limits of the servers and workers) or send a smaller payload.",
                nameof(payload));
        }

        return new SubmitRequest(function, payload, options, type, epoch);
    }

    /// <summary>Queues the submit packet; <paramref name="generatedUnique"/> is sent when the caller gave no unique ID.</summary>
    public bool Write(PacketOutbox outbox, Guid generatedUnique)
    {
        Span<byte> function = stackalloc byte[MaxFunctionBytes];
        function = function[..Encoding.UTF8.GetBytes(Function, function)];
        Span<byte> unique = stackalloc byte[MaxUniqueBytes];
        if (Unique is null)
        {
            generatedUnique.TryFormat(unique, out int written, "D");
            unique = unique[..written];
        }
        else
        {
            unique = unique[..Encoding.UTF8.GetBytes(Unique, unique)];
        }

        var payload = Payload.Span;
        switch (Type)
        {
            case PacketType.SubmitJobEpoch:
                Span<byte> epoch = stackalloc byte[20];
                Epoch.TryFormat(epoch, out int digits, default, CultureInfo.InvariantCulture);
                return outbox.Send(Type, function, unique, epoch[..digits], payload);
            case PacketType.SubmitReduceJob or PacketType.SubmitReduceJobBackground:
                Span<byte> reducer = stackalloc byte[MaxReducerBytes];
                reducer = reducer[..Encoding.UTF8.GetBytes(Options.Reducer!, reducer)];

                // The fourth field (aggregator) is ignored by gearmand and always empty in libgearman (protocol.md §1.2).
                return outbox.Send(Type, function, unique, reducer, [], payload);
            default:
                return outbox.Send(Type, function, unique, payload);
        }
    }
}
