using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Server.Diagnostics;
using Gearman.Server.Networking;
using Gearman.Server.Security;

namespace Gearman.Server.Scheduling;

/// <summary>Access control by certificate identity (<c>--access-rules</c>, docs/security.md).</summary>
internal sealed partial class JobScheduler
{
    /// <summary>The access rules; null (no rules file) allows everything.</summary>
    public AccessControl? Access { get; init; }

    /// <summary>
    /// Whether the admin command <paramref name="command"/> may run on <paramref name="connection"/>; a denial is logged
    /// and the caller answers <c>ERR PERMISSION_DENIED</c>.
    /// </summary>
    internal bool PermitsAdmin(PeerConnection connection, ReadOnlySpan<byte> command)
    {
        if (Access is not { } access || !AccessRules.IsMutatingAdminCommand(command)) return true;
        var rules = access.Rules;
        if (rules.MayAdminister(connection.Identity)) return true;
        LogDenied(connection, rules, $"may not use the admin command '{Encoding.ASCII.GetString(command)}'");
        return false;
    }

    /// <summary>
    /// Whether a CAN_DO or SUBMIT_JOB* packet may go on (every other packet may); a denial is logged and answered with
    /// ERROR PERMISSION_DENIED, in reply order, and the connection stays open.
    /// </summary>
    private bool Permits(PeerConnection connection, in ServerCommand command)
    {
        var rules = Access!.Rules;
        var type = command.Type;
        if (type is PacketType.CanDo or PacketType.CanDoTimeout)
        {
            var function = command.Fields.Slice(command.Body, 0);
            if (rules.MayRegister(connection.Identity, function)) return true;
            string what = $"may not register function '{Encoding.UTF8.GetString(function)}'";
            LogDenied(connection, rules, what);
            SendError(connection, "PERMISSION_DENIED"u8, Encoding.UTF8.GetBytes($"{Describe(connection)} {what}"));
            return false;
        }

        if (IsSubmit(type))
        {
            var function = command.Fields.Slice(command.Body, 0);
            if (rules.MaySubmit(connection.Identity, function)) return true;
            string what = $"may not submit to function '{Encoding.UTF8.GetString(function)}'";
            LogDenied(connection, rules, what);
            RejectSubmit(connection, "PERMISSION_DENIED"u8, Encoding.UTF8.GetBytes($"{Describe(connection)} {what}"));
            return false;
        }

        return true;
    }

    /// <summary>Every packet that creates (or joins) a job; field 0 is its function.</summary>
    private static bool IsSubmit(PacketType type) => type is PacketType.SubmitJob or PacketType.SubmitJobBg or PacketType.SubmitJobHigh or PacketType.SubmitJobHighBg
        or PacketType.SubmitJobLow or PacketType.SubmitJobLowBg or PacketType.SubmitJobEpoch or PacketType.SubmitReduceJob or PacketType.SubmitReduceJobBackground;

    private static string Describe(PeerConnection connection) => connection.Identity is { } identity ? $"identity '{identity}'" : "a connection without a client certificate";

    private void LogDenied(PeerConnection connection, AccessRules rules, string what)
        => ServerLog.AccessDenied(_logger, connection.Identity?.Subject ?? "anonymous", connection.ToString(), $"{what} (rule '{rules.For(connection.Identity).Name}')");
}
