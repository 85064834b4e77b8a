"""The registry entry: one Pair, found by pairbench through the entry point ``demo = pb_demo.pairs``."""
from pairbench.equivalence import equivalence
from pairbench.registry import Pair, Workload


def _workload(size: int, seed: int) -> Workload:
    haystack = [(i * 7919 + seed) % (4 * size) for i in range(size)]
    queries = [(i * 104729 + seed) % (4 * size) for i in range(50)]
    return Workload(inputs=(haystack, queries), description=f"{size} ints, 50 queries")


PAIRS = [
    Pair(
        name="demo.members",
        summary="count queries in a haystack: list scan per query vs one set",
        reference="pb_demo.slow_members",
        optimized="pb_demo.fast_members",
        workload=_workload,
        bind=lambda mod, inputs: (lambda: mod.count_members(*inputs)),
        check=equivalence(),
        sizes=(100, 1_000, 10_000),
        default_size=1_000,
        quick_size=1_000,
        floor=3.0,
        size_unit="ints",
    )
]
