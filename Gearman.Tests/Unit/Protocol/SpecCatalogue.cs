namespace Gearman.Tests.Unit.Protocol;

/// <summary>
/// The payload column of protocol.md §1.2, transcribed by hand (<c>\0</c> written as <c>|</c>), so that the codec's layout
/// table is checked against the specification rather than against itself.
/// </summary>
internal static class SpecCatalogue
{
    public static readonly IReadOnlyDictionary<int, string> Payloads = new Dictionary<int, string>
    {
        [1] = "FUNC",
        [2] = "FUNC",
        [3] = string.Empty,
        [4] = string.Empty,
        [5] = string.Empty, // unused: rejected with ERROR INVALID_COMMAND, any body ignored
        [6] = string.Empty,
        [7] = "FUNC|UNIQ|DATA",
        [8] = "HANDLE",
        [9] = string.Empty,
        [10] = string.Empty,
        [11] = "HANDLE|FUNC|DATA",
        [12] = "HANDLE|NUMERATOR|DENOMINATOR",
        [13] = "HANDLE|DATA",
        [14] = "HANDLE",
        [15] = "HANDLE",
        [16] = "DATA",
        [17] = "DATA",
        [18] = "FUNC|UNIQ|DATA",
        [19] = "CODE|TEXT",
        [20] = "HANDLE|KNOWN|RUNNING|NUM|DEN",
        [21] = "FUNC|UNIQ|DATA",
        [22] = "ID",
        [23] = "FUNC|TIMEOUT",
        [24] = string.Empty, // ALL_YOURS: rejected by gearmand, zero arguments
        [25] = "HANDLE|DATA",
        [26] = "NAME",
        [27] = "NAME",
        [28] = "HANDLE|DATA",
        [29] = "HANDLE|DATA",
        [30] = string.Empty,
        [31] = "HANDLE|FUNC|UNIQ|DATA",
        [32] = "FUNC|UNIQ|DATA",
        [33] = "FUNC|UNIQ|DATA",
        [34] = "FUNC|UNIQ|DATA",
        [35] = "FUNC|UNIQ|MIN|HOUR|MDAY|MON|WDAY|DATA",
        [36] = "FUNC|UNIQ|EPOCH|DATA",
        [37] = "FUNC|UNIQ|REDUCER|AGGREGATOR|DATA",
        [38] = "FUNC|UNIQ|REDUCER|AGGREGATOR|DATA",
        [39] = string.Empty,
        [40] = "HANDLE|FUNC|UNIQ|REDUCER|DATA",
        [41] = "UNIQ",
        [42] = "UNIQ|KNOWN|RUNNING|NUM|DEN|CLIENT_COUNT",
    };

    public static string[] Names(int type)
        => Payloads[type].Length == 0 ? [] : Payloads[type].Split('|');

    public static int FieldCount(int type) => Names(type).Length;

    public static bool HasData(int type) => Names(type) is [.., "DATA"];
}
