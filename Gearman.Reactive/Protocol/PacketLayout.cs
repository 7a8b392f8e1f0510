namespace Gearman.Reactive.Protocol;

/// <summary>
/// How many fields a packet type carries, as gearmand parses them (protocol.md §1.1–1.2): <see cref="Fields"/> counts
/// every field including a trailing opaque data part. All fields but the last are NUL-terminated; the last is
/// the rest of the body (it may itself contain NULs when <see cref="HasData"/> is true).
/// </summary>
internal readonly record struct PacketLayout(int Fields, bool HasData)
{
    /// <summary>The largest field count of any packet type (SUBMIT_JOB_SCHED: seven arguments and data).</summary>
    public const int MaxFields = 8;

    private static readonly PacketLayout[] Layouts = Build();

    /// <summary>True for the types 1..42 that the protocol defines.</summary>
    public static bool IsDefined(PacketType type) => (uint)type is >= 1 and <= 42;

    /// <summary>The layout of <paramref name="type"/>; an undefined type has no fields.</summary>
    public static PacketLayout Of(PacketType type) => IsDefined(type) ? Layouts[(int)type] : default;

    private static PacketLayout[] Build()
    {
        var l = new PacketLayout[43];
        // Zero arguments, no data: any body is ignored.
        foreach (var t in (ReadOnlySpan<PacketType>)[PacketType.ResetAbilities, PacketType.PreSleep, PacketType.Unused5, PacketType.Noop,
                     PacketType.GrabJob, PacketType.NoJob, PacketType.AllYours, PacketType.GrabJobUniq, PacketType.GrabJobAll])
        {
            l[(int)t] = new(0, false);
        }

        // One argument, no terminating NUL.
        foreach (var t in (ReadOnlySpan<PacketType>)[PacketType.CanDo, PacketType.CantDo, PacketType.JobCreated, PacketType.WorkFail,
                     PacketType.GetStatus, PacketType.SetClientId, PacketType.OptionReq, PacketType.OptionRes, PacketType.GetStatusUnique])
        {
            l[(int)t] = new(1, false);
        }

        // Data only.
        l[(int)PacketType.EchoReq] = new(1, true);
        l[(int)PacketType.EchoRes] = new(1, true);

        l[(int)PacketType.CanDoTimeout] = new(2, false);
        l[(int)PacketType.Error] = new(2, false);
        l[(int)PacketType.WorkComplete] = new(2, true);
        l[(int)PacketType.WorkException] = new(2, true);
        l[(int)PacketType.WorkData] = new(2, true);
        l[(int)PacketType.WorkWarning] = new(2, true);
        l[(int)PacketType.WorkStatus] = new(3, false);

        foreach (var t in (ReadOnlySpan<PacketType>)[PacketType.SubmitJob, PacketType.SubmitJobBg, PacketType.SubmitJobHigh,
                     PacketType.SubmitJobHighBg, PacketType.SubmitJobLow, PacketType.SubmitJobLowBg])
        {
            l[(int)t] = new(3, true);
        }

        l[(int)PacketType.JobAssign] = new(3, true);
        l[(int)PacketType.JobAssignUniq] = new(4, true);
        l[(int)PacketType.SubmitJobEpoch] = new(4, true);
        l[(int)PacketType.StatusRes] = new(5, false);
        l[(int)PacketType.SubmitReduceJob] = new(5, true);
        l[(int)PacketType.SubmitReduceJobBackground] = new(5, true);
        l[(int)PacketType.JobAssignAll] = new(5, true);
        l[(int)PacketType.StatusResUnique] = new(6, false);
        l[(int)PacketType.SubmitJobSched] = new(8, true);
        return l;
    }
}
