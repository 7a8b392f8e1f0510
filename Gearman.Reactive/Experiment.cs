namespace Gearman.Reactive;

/// <summary>TEMPORARY: switches for A/B measurements.</summary>
internal static class Experiment
{
    public static readonly bool NoInlineSend = Environment.GetEnvironmentVariable("GX_NOINLINE") == "1";
    public static readonly bool NoInlineClient = Environment.GetEnvironmentVariable("GX_NOINLINE_CLIENT") == "1";
    public static readonly bool AsyncChannel = Environment.GetEnvironmentVariable("GX_ASYNC_CHANNEL") == "1";
    public static readonly bool AsyncCredit = Environment.GetEnvironmentVariable("GX_ASYNC_CREDIT") == "1";
}
