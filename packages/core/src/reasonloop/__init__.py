"""reasonloop core: models, sampling (hard/soft/fuzzy thinking), rewards and metrics."""

__version__ = "0.1.0"
