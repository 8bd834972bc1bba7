"""What a suite runs: the plan, its estimate, shards."""
