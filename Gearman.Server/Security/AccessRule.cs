namespace Gearman.Server.Security;

/// <summary>What one identity of the rules file may do.</summary>
/// <param name="Name">The rules-file entry it came from (an identity, <c>default</c> or <c>anonymous</c>), for logs.</param>
/// <param name="CanDo">Functions it may register as a worker (CAN_DO, CAN_DO_TIMEOUT).</param>
/// <param name="Submit">Functions it may submit jobs to (every SUBMIT_JOB* packet).</param>
/// <param name="Admin">Whether it may use the mutating admin commands (<see cref="AccessRules.IsMutatingAdminCommand"/>).</param>
internal sealed record AccessRule(string Name, FunctionPatterns CanDo, FunctionPatterns Submit, bool Admin)
{
    /// <summary>Allows nothing: an identity the file does not name, when it has no <c>default</c> entry.</summary>
    public static AccessRule Nothing { get; } = new("(no entry)", FunctionPatterns.None, FunctionPatterns.None, Admin: false);
}
