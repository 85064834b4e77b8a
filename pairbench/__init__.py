"""pairbench: naive/optimized pairs, proven equivalent, timed side by side."""
__version__ = "0.1.0"
