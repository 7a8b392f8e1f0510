using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>
/// The foreground clients attached to a job, in attach order (duplicates allowed), with the <see cref="List{T}"/>
/// members the scheduler uses. Stored inline in the <see cref="Job"/>: a background job (no client) or a foreground job
/// with one client, by far the usual cases, costs no list object and array.
/// </summary>
internal struct JobClients
{
    /// <summary>The only client while <see cref="_all"/> is null.</summary>
    private PeerConnection? _single;

    /// <summary>Every client, once a second one attached.</summary>
    private List<PeerConnection>? _all;

    public readonly int Count => _all?.Count ?? (_single is null ? 0 : 1);

    public readonly PeerConnection this[int index]
    {
        get
        {
            if (_all is not null) return _all[index];
            if (index != 0 || _single is null) throw new ArgumentOutOfRangeException(nameof(index));
            return _single;
        }
    }

    public void Add(PeerConnection client)
    {
        if (_all is not null)
        {
            _all.Add(client);
        }
        else if (_single is null)
        {
            _single = client;
        }
        else
        {
            _all = [_single, client];
            _single = null;
        }
    }

    public readonly bool Contains(PeerConnection client) => _all?.Contains(client) ?? _single == client;

    public bool Remove(PeerConnection client)
    {
        if (_all is not null) return _all.Remove(client);
        if (_single is null || _single != client) return false;
        _single = null;
        return true;
    }

    /// <returns>How many clients were removed.</returns>
    public int RemoveAll(Predicate<PeerConnection> match)
    {
        if (_all is not null) return _all.RemoveAll(match);
        if (_single is null || !match(_single)) return 0;
        _single = null;
        return 1;
    }

    public void Clear()
    {
        _single = null;
        _all = null;
    }

    public readonly Enumerator GetEnumerator() => new(_single, _all);

    /// <summary>Enumerates a snapshot of the single client, or the list (which must not change meanwhile).</summary>
    public struct Enumerator
    {
        private readonly PeerConnection? _single;
        private readonly List<PeerConnection>? _all;
        private int _index;

        internal Enumerator(PeerConnection? single, List<PeerConnection>? all)
        {
            _single = single;
            _all = all;
            _index = -1;
        }

        public readonly PeerConnection Current => _all is null ? _single! : _all[_index];

        public bool MoveNext()
        {
            _index++;
            return _all is null ? _index == 0 && _single is not null : _index < _all.Count;
        }
    }
}
