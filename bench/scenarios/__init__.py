"""One module per scenario, each with one entry `measure(cfg) -> Result`."""
