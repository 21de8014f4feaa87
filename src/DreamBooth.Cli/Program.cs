return DreamBooth.Cli.CliApp.Run(args);
