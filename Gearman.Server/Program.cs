using Gearman.Server.Hosting;

return await ServerCommandLine.RunAsync(args).ConfigureAwait(false);
