"""What impls/ may import from bench/: the framework-neutral interfaces of the scenarios."""
