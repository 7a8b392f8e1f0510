using System.Globalization;
using System.Net;
using System.Text;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// A dependency-free SVG bar chart: one group per scenario and driver, one bar per server, each group scaled to its
/// own fastest server (throughputs differ by orders of magnitude between scenarios) and labelled with jobs/s.
/// </summary>
internal static class SvgChart
{
    private const int Width = 900;
    private const int LabelWidth = 330;
    private const int BarHeight = 16;
    private const int GroupGap = 14;
    private static readonly string[] Colors = ["#7f7f7f", "#1f6fd1", "#b0b0b0", "#6fa8ec", "#4d4d4d", "#0b3f80", "#d1731f", "#2a9d4b"];

    public static string Render(string title, IReadOnlyList<string> servers, IReadOnlyList<(string Label, IReadOnlyList<(double? Value, string Missing)> Values)> groups)
    {
        int barArea = Width - LabelWidth - 150;
        int height = 60 + groups.Count * ((servers.Count * BarHeight) + GroupGap) + 30;
        var svg = new StringBuilder();
        var ic = CultureInfo.InvariantCulture;
        svg.Append(ic, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(ic, $"<rect width=\"{Width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(ic, $"<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{Escape(title)}</text>\n");
        for (int i = 0; i < servers.Count; i++)
        {
            int x = 10 + (i * Math.Min(160, (Width - 20) / servers.Count));
            svg.Append(ic, $"<rect x=\"{x}\" y=\"34\" width=\"12\" height=\"12\" fill=\"{Colors[i % Colors.Length]}\"/>");
            svg.Append(ic, $"<text x=\"{x + 18}\" y=\"45\">{Escape(servers[i])}</text>\n");
        }

        int y = 60;
        foreach (var (label, values) in groups)
        {
            double max = values.Where(v => v.Value is > 0).Select(v => v.Value!.Value).DefaultIfEmpty(0).Max();
            int groupHeight = servers.Count * BarHeight;
            svg.Append(ic, $"<text x=\"10\" y=\"{y + (groupHeight / 2) + 4}\">{Escape(label)}</text>\n");
            for (int i = 0; i < servers.Count; i++)
            {
                int by = y + (i * BarHeight);
                if (values[i].Value is > 0 && max > 0)
                {
                    double v = values[i].Value!.Value;
                    int w = Math.Max(1, (int)Math.Round(v / max * barArea));
                    svg.Append(ic, $"<rect x=\"{LabelWidth}\" y=\"{by + 1}\" width=\"{w}\" height=\"{BarHeight - 2}\" fill=\"{Colors[i % Colors.Length]}\"/>");
                    svg.Append(ic, $"<text x=\"{LabelWidth + w + 6}\" y=\"{by + BarHeight - 4}\">{v.ToString("N0", ic)} jobs/s</text>\n");
                }
                else
                {
                    svg.Append(ic, $"<text x=\"{LabelWidth + 6}\" y=\"{by + BarHeight - 4}\" fill=\"#999\">{Escape(servers[i])}: {Escape(values[i].Missing)}</text>\n");
                }
            }

            y += groupHeight + GroupGap;
        }

        svg.Append(ic, $"<text x=\"10\" y=\"{height - 10}\" fill=\"#666\">Bars are scaled per scenario to its fastest server; scenarios without any figure are left out.</text>\n");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
