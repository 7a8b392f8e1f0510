using System.Text;

namespace Gearman.Tests.Infrastructure;

/// <summary>Payloads and packet-body helpers for tests that send large jobs and check them byte for byte.</summary>
internal static class TestPayloads
{
    /// <summary>Reproducible random bytes.</summary>
    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>The index of the <paramref name="n"/>th <paramref name="value"/> in <paramref name="bytes"/> (1-based), or -1.</summary>
    public static int IndexOfNth(byte[] bytes, byte value, int n)
    {
        int index = -1;
        for (int i = 0; i < n; i++) index = Array.IndexOf(bytes, value, index + 1);
        return index;
    }

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    public static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
}
