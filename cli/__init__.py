"""stylize-video's command line: parses arguments into pipeline settings, draws progress, maps errors to exit codes."""
