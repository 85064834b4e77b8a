"""Optimized side: one set built per call, then O(1) lookups."""


def count_members(haystack, queries):
    """How many of ``queries`` occur in ``haystack`` (both sequences of ints)."""
    present = set(haystack)
    return sum(1 for q in queries if q in present)
