using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gearman.Server.Monitoring;

/// <summary>
/// The live status page: four files embedded in the assembly (Monitoring/Page), served by the server itself, so the page
/// works without internet access and without files beside the executable. The page polls <c>/api/overview</c>.
/// </summary>
internal static class StatusPage
{
    private static readonly (string Route, string Resource, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/status.js", "status.js", "text/javascript; charset=utf-8"),
        ("/status.css", "status.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ];

    public static void Map(IEndpointRouteBuilder routes)
    {
        foreach (var (route, resource, contentType) in Files)
        {
            byte[] content = Load(resource);
            routes.MapGet(route, (HttpResponse response) =>
            {
                // Nothing from elsewhere: scripts, styles and connections only to this origin.
                response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:";
                response.Headers.CacheControl = "no-cache";
                return Results.Bytes(content, contentType);
            });
        }
    }

    private static byte[] Load(string name)
    {
        using var stream = typeof(StatusPage).Assembly.GetManifestResourceStream("Gearman.Server.Monitoring.Page." + name)
            ?? throw new InvalidOperationException($"The status page resource {name} is missing from the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
