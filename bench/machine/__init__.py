"""The machine a run measures on: its environment, CPU contention, memory."""
