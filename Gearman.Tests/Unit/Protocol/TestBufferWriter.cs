using System.Buffers;

namespace Gearman.Tests.Unit.Protocol;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> that hands out spans of at most <see cref="MaxSpan"/> bytes unless a larger
/// sizeHint forces more (GetSpan must return at least sizeHint bytes). Every span is a fresh region filled with
/// 0xCC, so a writer that assumes contiguity, writes past what it advances, or advances past its span is caught.
/// </summary>
internal sealed class TestBufferWriter(int maxSpan) : IBufferWriter<byte>
{
    private readonly List<byte> _written = [];
    private byte[] _current = [];
    private bool _hasSpan;

    public int MaxSpan { get; } = maxSpan;

    public int GetSpanCalls { get; private set; }

    public List<int> SizeHints { get; } = [];

    public byte[] WrittenArray => [.. _written];

    public int WrittenCount => _written.Count;

    public void Advance(int count)
    {
        if (!_hasSpan) throw new InvalidOperationException("Advance without GetSpan.");
        if (count < 0 || count > _current.Length) throw new InvalidOperationException($"Advance({count}) past a span of {_current.Length}.");
        for (int i = 0; i < count; i++) _written.Add(_current[i]);

        // Bytes handed out but not advanced must not matter: they are discarded here.
        _hasSpan = false;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        if (sizeHint < 0) throw new ArgumentOutOfRangeException(nameof(sizeHint));
        GetSpanCalls++;
        SizeHints.Add(sizeHint);
        _current = new byte[Math.Max(sizeHint, MaxSpan)];
        Array.Fill(_current, (byte)0xCC);
        _hasSpan = true;
        return _current;
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
}
