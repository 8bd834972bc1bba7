"""The typed records of runs and suites, their files, DataFrames and pytest-benchmark JSON."""
