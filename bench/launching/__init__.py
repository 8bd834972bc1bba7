"""Running the plan: worker processes, their order, progress, the overhead check."""
