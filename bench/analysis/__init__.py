"""Results into cells, ratios, verdicts and regressions."""
