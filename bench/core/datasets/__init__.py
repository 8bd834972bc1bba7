"""Dataset loaders beyond Iris: embedded defaults (scikit-learn data or seeded synthetic data)
and readers of real datasets in their official formats from a user-given folder. Registered by
name in bench/core/data.py (DATASETS)."""
