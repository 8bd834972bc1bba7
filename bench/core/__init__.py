"""What every layer shares: the specs, the workloads and backends registries, errors, typed JSON, the cache, FLOPs, statistics, the data."""
