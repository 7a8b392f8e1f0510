using System.Text;

namespace Gearman.Reactive.Client;

/// <summary>
/// Picks the server for a job. A job with a caller's unique ID goes to the live server with the highest rendezvous
/// score for that ID, so every client sends it to the same server and coalescing works across servers, and losing a
/// server moves only that server's IDs (<c>"-"</c> hashes the payload, the real coalescing key). Other jobs are spread
/// round-robin. Each retry takes the best server not tried yet.
/// </summary>
internal static class ServerSelector
{
    /// <summary>FNV-1a, 64 bit: stable across processes and platforms (unlike <see cref="string.GetHashCode()"/>).</summary>
    public static ulong Hash(ReadOnlySpan<byte> bytes)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in bytes)
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }

        return hash;
    }

    /// <summary>The rendezvous key of <paramref name="request"/>, or null when its jobs are spread instead.</summary>
    public static ulong? KeyHash(SubmitRequest request)
    {
        if (request.Unique is not { } unique) return null;
        if (unique == "-") return Hash(request.Payload.Span);
        return KeyHash(unique);
    }

    public static ulong KeyHash(string unique)
    {
        Span<byte> bytes = stackalloc byte[SubmitRequest.MaxUniqueBytes];
        int n = Encoding.UTF8.GetBytes(unique, bytes);
        return Hash(bytes[..n]);
    }

    /// <summary>The next server to try, or -1 when every server has been tried.</summary>
    /// <param name="sessions">The servers in configured order.</param>
    /// <param name="keyHash">The rendezvous key, or null to go round-robin from <paramref name="start"/>.</param>
    /// <param name="start">Where the round-robin starts.</param>
    /// <param name="tried">Servers to skip, one bit per index.</param>
    public static int Next(ServerSession[] sessions, ulong? keyHash, int start, ulong tried)
    {
        if (keyHash is not { } key)
        {
            for (int k = 0; k < sessions.Length; k++)
            {
                int i = (start + k) % sessions.Length;
                if ((tried & (1UL << i)) == 0) return i;
            }

            return -1;
        }

        int best = -1;
        ulong bestScore = 0;
        for (int i = 0; i < sessions.Length; i++)
        {
            if ((tried & (1UL << i)) != 0) continue;
            ulong score = Mix(key ^ sessions[i].NameHash);
            if (best < 0 || score > bestScore)
            {
                best = i;
                bestScore = score;
            }
        }

        return best;
    }

    /// <summary>MurmurHash3's 64-bit finalizer: spreads the combined hash over all bits.</summary>
    private static ulong Mix(ulong h)
    {
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return h;
    }
}
