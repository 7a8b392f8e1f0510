using Gearman.Reactive.Protocol;
using Gearman.Tests.Conformance;
using Gearman.Tests.Infrastructure;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Xunit;

namespace Gearman.Tests.Integration.Monitoring;

/// <summary>
/// The live status page in a real browser: Debian's headless Chromium driven through chromium-driver (both installed by
/// .ci/run), with no network but loopback. The page must show a function the test registered and a job count that
/// changes as jobs are submitted, by itself; a screenshot is kept as a test artifact.
/// </summary>
[Trait("Category", "Integration")]
[Collection(SerialCollection.Name)]
public sealed class StatusPageBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string ChromeDriver = "/usr/bin/chromedriver";
    private static readonly TimeSpan PageTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Starting Chromium is the slow command (4 s on an idle 2-core machine; over 20 s once in CI beside other tests), so
    /// driver commands get more time than the page's own waits.
    /// </summary>
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task The_page_shows_a_registered_function_and_updates_its_job_count_by_itself()
    {
        await using var s = await ConformanceSession.StartAsync(ServerKind.Ours, new ServerStartOptions { Monitoring = true, AdminToken = "page-token" });
        string fn = TestNames.Unique("page");
        await s.WorkerAsync(fn);
        using var temp = new TempDirectory();
        using var browser = StartBrowser(temp.Path);
        browser.Navigate().GoToUrl($"http://127.0.0.1:{s.Server.MonitorPort}/");

        var wait = new WebDriverWait(browser, PageTimeout);
        string Cell(string column) => browser.FindElement(By.CssSelector($"#functions tr[data-function='{fn}'] td.{column}")).Text;
        wait.Until(_ => TryRead(() => Cell("workers")) == "1");
        Assert.Equal("0", Cell("total"));

        // Jobs submitted over Gearman appear without a reload.
        var client = await s.ConnectAsync();
        await client.SubmitAsync(PacketType.SubmitJobHighBg, fn, "u1", "a");
        await client.SubmitAsync(PacketType.SubmitJobBg, fn, "u2", "b");
        string queued = await client.SubmitAsync(PacketType.SubmitJobBg, fn, "u3", "c");
        wait.Until(_ => TryRead(() => Cell("total")) == "3");
        Assert.Equal("1", Cell("queued-high"));
        Assert.Equal("2", Cell("queued-normal"));

        // With the admin token, a queued job can be cancelled from the page.
        browser.FindElement(By.Id("admin-token")).SendKeys("page-token");
        wait.Until(_ => TryClick(browser, By.CssSelector($"#jobs tr[data-handle='{queued}'] button.cancel")));
        wait.Until(_ => TryRead(() => Cell("total")) == "2");
        Assert.Contains("Cancelled", browser.FindElement(By.Id("cancel-result")).Text, StringComparison.Ordinal);

        var screenshot = ((ITakesScreenshot)browser).GetScreenshot();
        string artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        screenshot.SaveAsFile(Path.Combine(artifacts, "status-page.png"));
        TestContext.Current.AddAttachment("status-page.png", screenshot.AsByteArray, "image/png");
        Assert.DoesNotContain(browser.Manage().Logs.GetLog(LogType.Browser), l => l.Level >= LogLevel.Severe);
    }

    private static ChromeDriver StartBrowser(string profile)
    {
        var options = new ChromeOptions { BinaryLocation = Chromium };
        options.AddArguments(
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1200,1000", $"--user-data-dir={profile}");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver)!, Path.GetFileName(ChromeDriver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        return new ChromeDriver(service, options, CommandTimeout);
    }

    /// <summary>The page redraws its tables every second, so an element may be replaced between finding and reading it.</summary>
    private static string? TryRead(Func<string> read)
    {
        try
        {
            return read();
        }
        catch (Exception ex) when (ex is NoSuchElementException or StaleElementReferenceException)
        {
            return null;
        }
    }

    private static bool TryClick(IWebDriver browser, By by)
    {
        try
        {
            browser.FindElement(by).Click();
            return true;
        }
        catch (Exception ex) when (ex is NoSuchElementException or StaleElementReferenceException or ElementNotInteractableException)
        {
            return false;
        }
    }
}
