using System.Globalization;

namespace Gearman.Benchmarks.Throughput;

/// <summary>The harness's command line.</summary>
internal sealed record ThroughputOptions
{
    public bool Smoke { get; init; }

    public bool List { get; init; }

    /// <summary>Servers in the order each round runs them.</summary>
    public IReadOnlyList<string> Servers { get; init; } = [ServerCatalog.Gearmand, ServerCatalog.Ours];

    public IReadOnlyList<string> Drivers { get; init; } = [LibgearmanDriver.DriverName, SdkDriver.DriverName];

    public IReadOnlyList<Scenario> Scenarios { get; init; } = Scenario.All;

    /// <summary>Interleaved rounds per scenario; each round runs every server once.</summary>
    public int Runs { get; init; } = 3;

    /// <summary>Multiplier on the full-run job counts.</summary>
    public double Scale { get; init; } = 1.0;

    public string? Out { get; init; }

    public string GearmandPath { get; init; } = "/usr/sbin/gearmand";

    public string? OurServerPath { get; init; }

    /// <summary>
    /// Our server's <c>--queue-type</c>: <c>memory</c> (default, like gearmand's builtin queue), <c>sqlite</c> (a fresh
    /// database file per launch) or <c>postgres</c> (a fresh table per launch in the harness's own PostgreSQL cluster).
    /// </summary>
    public string OurQueueType { get; init; } = QueueBackends.Memory;

    /// <summary>
    /// gearmand's <c>-q</c>: <c>builtin</c> (default, in memory), <c>libsqlite3</c> (a fresh database file per launch) or
    /// <c>postgres</c> (a fresh table per launch in the harness's own PostgreSQL cluster).
    /// </summary>
    public string GearmandQueueType { get; init; } = QueueBackends.Builtin;

    /// <summary>
    /// <c>--stores</c>: run every server once per store (memory, sqlite, postgres; gearmand with its counterpart queue),
    /// as servers named like <c>ours-sqlite</c> and <c>gearmand-libsqlite3</c>; null runs each server once, with
    /// <see cref="OurQueueType"/> and <see cref="GearmandQueueType"/>.
    /// </summary>
    public IReadOnlyList<string>? Stores { get; init; }

    /// <summary>Longest one phase (warm-up, measured run, drain) may take before it is killed and reported as failed.</summary>
    public TimeSpan PhaseTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The arguments as given, for the report.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    public static ThroughputOptions Parse(IReadOnlyList<string> args)
    {
        var o = new ThroughputOptions { Arguments = args };
        bool runsGiven = false;
        bool timeoutGiven = false;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "--smoke": o = o with { Smoke = true }; break;
                case "--list": o = o with { List = true }; break;
                case "--servers": o = o with { Servers = SplitKnown(Value(), ServerCatalog.Names, "server") }; break;
                case "--drivers": o = o with { Drivers = SplitKnown(Value(), [LibgearmanDriver.DriverName, SdkDriver.DriverName, SdkDriver.PortableDriverName], "driver") }; break;
                case "--scenarios":
                    var ids = SplitKnown(Value(), Scenario.All.Select(s => s.Id).ToArray(), "scenario");
                    o = o with { Scenarios = Scenario.All.Where(s => ids.Contains(s.Id)).ToArray() };
                    break;
                case "--runs": o = o with { Runs = PositiveInt(a, Value()) }; runsGiven = true; break;
                case "--scale": o = o with { Scale = PositiveDouble(a, Value()) }; break;
                case "--out": o = o with { Out = Value() }; break;
                case "--gearmand": o = o with { GearmandPath = Value() }; break;
                case "--our-server": o = o with { OurServerPath = Value() }; break;
                case "--our-queue": o = o with { OurQueueType = One(a, SplitKnown(Value(), QueueBackends.OurQueueTypes, "queue type")) }; break;
                case "--gearmand-queue": o = o with { GearmandQueueType = One(a, SplitKnown(Value(), QueueBackends.GearmandQueueTypes, "queue type")) }; break;
                case "--stores":
                    string stores = Value();
                    o = o with { Stores = stores == "all" ? QueueBackends.OurQueueTypes : SplitKnown(stores, QueueBackends.OurQueueTypes, "store") };
                    break;
                case "--timeout": o = o with { PhaseTimeout = TimeSpan.FromSeconds(PositiveDouble(a, Value())) }; timeoutGiven = true; break;
                default: throw new ArgumentException($"unknown option {a}");
            }
        }

        if (o.Servers.Contains(ServerCatalog.OursTls) && o.Drivers.Contains(LibgearmanDriver.DriverName))
        {
            throw new ArgumentException($"--servers {ServerCatalog.OursTls} needs --drivers {SdkDriver.DriverName}: libgearman's load generator has no TLS");
        }

        if (o.Smoke)
        {
            if (!runsGiven) o = o with { Runs = 1 };
            if (!timeoutGiven) o = o with { PhaseTimeout = TimeSpan.FromSeconds(60) };
        }

        return o;
    }

    private static string[] SplitKnown(string value, IReadOnlyCollection<string> known, string what)
    {
        var items = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var item in items)
        {
            if (!known.Contains(item)) throw new ArgumentException($"unknown {what} '{item}' (known: {string.Join(", ", known)})");
        }

        return items.Length > 0 ? items.Distinct().ToArray() : throw new ArgumentException($"no {what} given");
    }

    private static string One(string name, string[] items) => items.Length == 1 ? items[0] : throw new ArgumentException($"{name} takes one queue type");

    private static int PositiveInt(string name, string value)
        => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : throw new ArgumentException($"{name} needs a positive integer");

    private static double PositiveDouble(string name, string value)
        => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0 ? d : throw new ArgumentException($"{name} needs a positive number");
}
