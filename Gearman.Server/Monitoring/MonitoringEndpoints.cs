using System.Security.Cryptography;
using System.Text;
using Gearman.Server.Hosting;
using Gearman.Server.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gearman.Server.Monitoring;

/// <summary>
/// The monitoring port's routes (docs/monitoring.md): health, readiness, the typed <c>status</c>/<c>workers</c>/<c>show
/// jobs</c> views, the page's overview and the token-guarded cancel. Everything is read from scheduler snapshots.
/// </summary>
internal sealed class MonitoringEndpoints
{
    private readonly SnapshotPublisher _snapshots;
    private readonly JobScheduler _scheduler;
    private readonly GearmanServerOptions _options;
    private readonly CancellationToken _serverStopping;
    private readonly byte[]? _adminToken;

    /// <param name="snapshots">Where snapshots come from.</param>
    /// <param name="scheduler">The scheduler, asked only through <see cref="JobScheduler.AskAsync"/>.</param>
    /// <param name="options">The server's settings (store type, admin token).</param>
    /// <param name="serverStopping">Signalled when the job server begins to stop (it then turns unready).</param>
    public MonitoringEndpoints(SnapshotPublisher snapshots, JobScheduler scheduler, GearmanServerOptions options, CancellationToken serverStopping)
    {
        _snapshots = snapshots;
        _scheduler = scheduler;
        _options = options;
        _serverStopping = serverStopping;
        _adminToken = string.IsNullOrEmpty(options.AdminToken) ? null : Encoding.UTF8.GetBytes(options.AdminToken);
    }

    /// <summary>Whether the Gearman port serves and the durable store (if any) is reachable.</summary>
    public bool IsReady => !_serverStopping.IsCancellationRequested && _scheduler.StoreWriter?.Unavailable is null;

    public void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/healthz", () => Results.Text("ok\n"));
        routes.MapGet("/readyz", () => Results.Json(Readiness(), statusCode: IsReady ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable));
        routes.MapGet("/api/status", async (CancellationToken ct) => Results.Json((await _snapshots.TakeAsync(ct).ConfigureAwait(false)).Functions));
        routes.MapGet("/api/workers", async (CancellationToken ct) => Results.Json((await _snapshots.TakeAsync(ct).ConfigureAwait(false)).Connections));
        routes.MapGet("/api/jobs", JobsAsync);
        routes.MapGet("/api/overview", OverviewAsync);
        routes.MapPost("/api/jobs/{handle}/cancel", CancelAsync);
        StatusPage.Map(routes);
    }

    private object Readiness()
    {
        var writer = _scheduler.StoreWriter;
        return new
        {
            ready = IsReady,
            listening = !_serverStopping.IsCancellationRequested,
            store = new
            {
                type = _options.QueueType.ToString().ToLowerInvariant(),
                available = writer?.Unavailable is null,
                reason = writer?.Unavailable,
            },
        };
    }

    /// <summary>The oldest <see cref="SnapshotPublisher.MaxJobsListed"/> jobs; <c>X-Total-Count</c> says how many there are.</summary>
    private async Task<IResult> JobsAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        var snapshot = await _snapshots.TakeAsync(cancellationToken, SnapshotPublisher.MaxJobsListed).ConfigureAwait(false);
        response.Headers["X-Total-Count"] = snapshot.JobCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Json(snapshot.Jobs);
    }

    private async Task<IResult> OverviewAsync(CancellationToken cancellationToken)
    {
        var snapshot = await _snapshots.TakeAsync(cancellationToken, SnapshotPublisher.MaxJobsListed).ConfigureAwait(false);
        return Results.Json(new
        {
            takenAt = snapshot.TakenAt,
            functions = snapshot.Functions,
            workers = snapshot.Connections.Where(c => c.Functions.Count > 0),
            jobs = snapshot.Jobs,
            jobCount = snapshot.JobCount,
            jobsSubmitted = snapshot.JobsSubmitted,
            jobsFinished = snapshot.JobsFinished,
            rates = _snapshots.History(),
            readiness = Readiness(),
            cancelEnabled = _adminToken is not null,
        });
    }

    /// <summary>Admin <c>cancel job</c> for a queued job, only with <c>Authorization: Bearer TOKEN</c> matching <c>--admin-token</c>.</summary>
    private async Task<IResult> CancelAsync(string handle, HttpRequest request, CancellationToken cancellationToken)
    {
        if (_adminToken is null) return Results.Text("The status page is read-only: the server has no --admin-token.\n", statusCode: StatusCodes.Status403Forbidden);
        string authorization = request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        if (!authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase)
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(authorization[Bearer.Length..].Trim()), _adminToken))
        {
            return Results.Text("Cancelling a job needs the admin token (Authorization: Bearer TOKEN).\n", statusCode: StatusCodes.Status401Unauthorized);
        }

        byte[] handleBytes = Encoding.UTF8.GetBytes(handle);
        var outcome = await _scheduler.AskAsync(s => CancelQueued(s, handleBytes), cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            CancelOutcome.Cancelled => Results.Text($"Cancelled {handle}.\n"),
            CancelOutcome.Running => Results.Text($"{handle} is running: only queued jobs can be cancelled here.\n", statusCode: StatusCodes.Status409Conflict),
            _ => Results.Text($"No job {handle}.\n", statusCode: StatusCodes.Status404NotFound),
        };
    }

    private static CancelOutcome CancelQueued(JobScheduler scheduler, byte[] handle)
    {
        if (!scheduler.TryGetJob(handle, out var job)) return CancelOutcome.NotFound;
        if (job.Worker is not null) return CancelOutcome.Running;
        return scheduler.Cancel(handle) ? CancelOutcome.Cancelled : CancelOutcome.NotFound;
    }

    private enum CancelOutcome
    {
        NotFound,
        Running,
        Cancelled,
    }
}
