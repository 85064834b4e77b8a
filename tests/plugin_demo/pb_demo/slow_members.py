"""Reference side: count the queries found in a haystack by scanning the list for each one."""


def count_members(haystack, queries):
    """How many of ``queries`` occur in ``haystack`` (both sequences of ints)."""
    return sum(1 for q in queries if q in list(haystack))
