"""Naive implementations: obvious, readable, correct. They are the specification."""
