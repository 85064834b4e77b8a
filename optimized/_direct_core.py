"""The rectangle bookkeeping of a batched DIRECT / DIRECT-L that retraces scipy's run exactly.

scipy's ``direct`` is Gablonsky's DIRECT 2.0.4 (C, f2c). Its sampled points depend only on the
geometry of the rectangles chosen at the start of an iteration, so the whole iteration's points
can be built first (numpy, all chosen rectangles at once), evaluated in one ``fun_batch`` call,
and then divided and filed in scipy's order. What has to be retraced exactly:

* the unit cube: a point ``c`` is evaluated at ``(c + l / (u - l)) * (u - l)``; the answer is
  reported as ``c * (u - l) + (u - l) * (l / (u - l))`` (scipy's two formulas, bit for bit);
* a rectangle's side ``i`` is ``3 ** -length[i]``; a chosen one is cut along its longest sides,
  sampling ``c + delta`` then ``c - delta`` per side in index order, ``delta = 3 ** -(k + 1)``;
  the sides are cut in order of ``min(f+, f-)`` (stable), so the pair of the r-th side cut gets
  the first ``r + 1`` cuts;
* the "level" of a rectangle (DIRECT-L: ``k = min(length)``; DIRECT: ``k * d + #short sides``)
  and one list per level, sorted by value, whose head is the level's candidate. Equal values
  keep scipy's order: a new entry goes after the entries equal to it, except one case of its
  pair insertion (see :meth:`_Lists.file_divided`), which goes before them. Each entry gets a
  sequence number (after: a rising counter; before: a falling negative one) and a level's list
  is ordered by ``(value, seq)``: a heap per level, entries of rectangles since divided dropped
  lazily;
* the choice of potentially optimal heads (DIRChoose: scanned from the smallest level up, a
  head is dropped when a larger head is not worse, or when the least slope ``K`` to a larger
  head is at least the largest slope to a kept smaller one and ``f - K * size`` misses
  ``minf - eps * |minf|``; scipy's C never drops a head whose slopes leave no ``K`` at all: that
  drop only happens there when a log file is written), plus, for the original DIRECT, the
  heads' near-ties (``1e-13``);
* best point: the first point (in evaluation order) strictly below the best so far;
* the stops after each iteration, in scipy's order (volume, length measure, ``f_min``, budget),
  Jones' eps update for ``eps < 0``, and scipy's sizing of ``maxfun`` / ``maxiter``.
"""
from __future__ import annotations

import functools
import heapq
import math
from typing import Callable

import numpy as np

# scipy's C sizes (DIRect.c): memory cap of its work arrays and the list capacity of DIRChoose.
_MAXMEMORY = 1 << 30
_MAXDIV = 5000
_SIZEOF_DOUBLE, _SIZEOF_INT = 8, 4

MESSAGES = {
    1: "Number of function evaluations done is larger than maxfun={}",
    2: "Number of iterations is larger than maxiter={}",
    3: ("The best function value found is within a relative error={} of the (known) global "
        "optimum f_min"),
    4: ("The volume of the hyperrectangle containing the lowest function value found is below "
        "vol_tol={}"),
    5: ("The side length measure of the hyperrectangle containing the lowest function value "
        "found is below len_tol={}"),
    -6: "Maximum number of levels has been reached.",
}


def c_budget(maxfun: int, maxiter: int, n: int) -> tuple[int, int, int]:
    """scipy's effective (maxf, maxt, maxdeep) for the user's maxfun / maxiter (both >= 1)."""
    maxfunc = maxfun + 1000 + maxfun // 2
    per_point = n * (_SIZEOF_DOUBLE + _SIZEOF_INT) + (2 * _SIZEOF_DOUBLE + _SIZEOF_INT)
    if maxfunc * per_point > _MAXMEMORY:
        maxfunc = _MAXMEMORY // per_point
    maxf = 2 * (maxfunc - 1000) // 3
    maxdeep = maxiter + 1000
    per_level, fixed = 2 * _SIZEOF_DOUBLE + _SIZEOF_INT, 2 * (_SIZEOF_DOUBLE + _SIZEOF_INT)
    if maxdeep * per_level + fixed > _MAXMEMORY:
        maxdeep = (_MAXMEMORY - fixed) // per_level
    return maxf, maxdeep - 1000, maxdeep


@functools.lru_cache(maxsize=32)
def size_tables(n: int, jones: int, maxdeep: int) -> tuple[np.ndarray, np.ndarray]:
    """``thirds[i] = 1/3**i`` and the size measure ``levels[level]``, computed as scipy does.

    scipy sizes them ``maxdeep + 1``; past ``3**-i`` underflowing (i ~ 650) every entry is 0.0,
    so they stop at ``800 * (n + 1)`` here and lookups beyond read 0.0 (see :func:`size_at`).
    """
    size = min(maxdeep, 800 * (n + 1)) + 1
    thirds = np.zeros(size)
    levels = np.zeros(size)
    help2 = 3.0
    for i in range(1, size):
        thirds[i] = 1.0 / help2
        help2 *= 3.0
    thirds[0] = 1.0
    if jones == 0:
        w = [math.sqrt((n - j) + j / 9.0) * 0.5 for j in range(n)]
        help2 = 1.0
        for i in range(1, size // n + 2):        # rows of n entries, 1/3 smaller each row
            for j in range(n):
                if (i - 1) * n + j < size:
                    levels[(i - 1) * n + j] = w[j] / help2
            help2 *= 3.0
    else:
        levels[1:] = thirds[1:]
        levels[0] = 1.0
    thirds.flags.writeable = False
    levels.flags.writeable = False
    return thirds, levels


def size_at(table: list[float], index: int) -> float:
    """``table[index]``, 0.0 past its end (where scipy's entries have underflowed to 0.0)."""
    return table[index] if index < len(table) else 0.0


class _Lists:
    """One value-sorted list per level (scipy's anchor/point lists), as lazily pruned heaps."""

    def __init__(self, capacity: int) -> None:
        self.heaps: dict[int, list[tuple[float, int, int]]] = {}
        self.seq: list[int] = [0] * capacity      # current entry of each rectangle; 0 = none
        self._after = 0                            # rising: after the equal values
        self._before = 0                           # falling: before the equal values

    def grow(self, capacity: int) -> None:
        self.seq.extend([0] * (capacity - len(self.seq)))

    def file_divided(self, rects: list[int], rect_level: list[int], rect_value: list[float],
                     maxi: list[int], pair_level: list[int], f_plus: list[float],
                     f_minus: list[float], first: int) -> None:
        """File one iteration's divided rectangles, in scipy's order (DIRInsertList).

        For each rect: take it out of its list; file its side pairs in side order (pair ``q`` is
        rects ``first + 2q`` (c + delta, value ``f_plus[q]``) and ``first + 2q + 1``); then file
        the rect itself at its new level. Everything goes after the entries of equal value
        except one case: when ``f1 < head`` and ``f1 <= f2 == head`` (``head``: the level's first
        value at that moment), scipy links ``pos1 -> pos2 -> head``, so ``pos2`` goes before the
        entries equal to the head.
        """
        heaps, seq = self.heaps, self.seq
        push, pop = heapq.heappush, heapq.heappop
        after, before = self._after, self._before
        start = 0
        for r, count in enumerate(maxi):
            seq[rects[r]] = 0
            for q in range(start, start + count):
                level, f1, f2 = pair_level[q], f_plus[q], f_minus[q]
                r1 = first + 2 * q
                h = heaps.get(level)
                if h is None:
                    h = heaps[level] = []
                while h and seq[h[0][2]] != h[0][1]:
                    pop(h)
                after += 1
                s1 = after
                if h and not (f2 < f1) and f1 < h[0][0] and f2 == h[0][0]:
                    before -= 1
                    s2 = before
                else:
                    after += 1
                    s2 = after
                seq[r1] = s1
                seq[r1 + 1] = s2
                push(h, (f1, s1, r1))
                push(h, (f2, s2, r1 + 1))
            start += count
            after += 1
            level, rect = rect_level[r], rects[r]
            seq[rect] = after
            h = heaps.get(level)
            if h is None:
                heaps[level] = [(rect_value[r], after, rect)]
            else:
                push(h, (rect_value[r], after, rect))
        self._after, self._before = after, before

    def near_ties(self, level: int, tol: float = 1e-13) -> list[int]:
        """The entries after the head whose value is within ``tol`` of it (DIRDoubleInsert)."""
        h = self.heaps.get(level)
        if not h:
            return []
        seq = self.seq
        popped = [heapq.heappop(h)]            # the head, live (_chosen pruned the top)
        f_head = popped[0][0]
        ties: list[int] = []
        while h:
            entry = heapq.heappop(h)
            if seq[entry[2]] != entry[1]:
                continue                         # stale: drop for good
            popped.append(entry)
            if entry[0] - f_head <= tol:
                ties.append(entry[2])
            else:
                break
        for entry in popped:
            heapq.heappush(h, entry)
        return ties


def _ieee_div(num: float, den: float) -> float:
    """``num / den`` with IEEE semantics where Python would raise (``den == 0``)."""
    try:
        return num / den
    except ZeroDivisionError:
        if num != num or num == 0.0:
            return math.nan
        return math.copysign(math.inf, num) * math.copysign(1.0, den)


def choose(f: list[float], d: list[float], minf: float, eps: float) -> list[int]:
    """Positions of the heads that scipy's DIRChoose keeps (``f``: head values, ``d``: their size
    measures, largest rectangle first). Same decisions, bit for bit, as scipy's O(m^2) loops.

    A head is dropped when a larger head's value is not above it (scipy: a slope <= 0 to a larger
    head); only the heads that survive that (a "staircase") go through scipy's loops, which then
    see the same slopes as over all heads: a slope to a head off the staircase is never below
    the slope to the staircase head that beats it (correctly rounded - and / are monotone), so
    every minimum and maximum is scipy's, bit for bit.
    """
    m = len(f)
    a = minf - eps * abs(minf)
    b = minf - 0.0
    threshold = a if a < b else b
    sizes_ok = all(d[i] > d[i + 1] for i in range(m - 1)) and (m == 0 or d[-1] > 0.0)
    if not sizes_ok:                      # sizes underflowed (absurd depths): scipy's loops as is
        return _choose_loops(f, d, threshold)
    staircase = []
    low = math.inf
    for j in range(m):
        fj = f[j]
        # with d[i] > d[j] > 0, (f[i] - f[j]) / (d[i] - d[j]) <= 0 exactly when f[i] - f[j] <= 0
        if j == 0 or low > fj or (low == fj and math.isinf(fj)):
            staircase.append(j)
        if fj < low:
            low = fj
    kept = _choose_loops([f[j] for j in staircase], [d[j] for j in staircase], threshold)
    return [staircase[c] for c in kept]


def _choose_loops(f: list[float], d: list[float], threshold: float) -> list[int]:
    """scipy's DIRChoose loops: heads from the smallest up; ``lower`` / ``greater`` are the
    least slope to a larger head and the largest slope to a kept smaller head."""
    m = len(f)
    keep = [False] * m
    kept: list[int] = []                  # kept positions, smallest head first
    for j in range(m - 1, -1, -1):
        fj, dj = f[j], d[j]
        lower = math.inf
        dropped = False
        for i in range(j):
            try:
                h2 = (f[i] - fj) / (d[i] - dj)
            except ZeroDivisionError:
                h2 = _ieee_div(f[i] - fj, d[i] - dj)
            if h2 <= 0.0:
                dropped = True
                break
            if h2 < lower:
                lower = h2
        if dropped:
            continue
        greater = 0.0
        for i in kept:
            try:
                h2 = (f[i] - fj) / (d[i] - dj)
            except ZeroDivisionError:
                h2 = _ieee_div(f[i] - fj, d[i] - dj)
            if h2 <= 0.0:
                dropped = True
                break
            if h2 > greater:
                greater = h2
        if dropped:
            continue
        # scipy's C drops a head with ``greater > lower`` only when it writes a log file
        # (``if (logfile) goto L60;`` once the fprintf there was commented out): never, here.
        if greater <= lower and fj - lower * dj > threshold:
            continue
        keep[j] = True
        kept.append(j)
    return [j for j in range(m) if keep[j]]


class DirectRun:
    """One DIRECT run over the unit cube of the box ``[lb, ub]``; ``evaluate`` maps an ``(m, d)``
    array of points of the box to ``m`` float64 values (NaN already read as +inf)."""

    def __init__(self, evaluate: Callable[[np.ndarray], np.ndarray], lb: np.ndarray, ub: np.ndarray, *,
                 maxfun: int, eps: float, locally_biased: bool, maxiter: int, f_min: float,
                 f_min_rtol: float, vol_tol: float, len_tol: float) -> None:
        self.evaluate = evaluate
        self.n = n = lb.size
        self.jones = 1 if locally_biased else 0
        self.maxfun_user, self.maxiter_user = maxfun, maxiter
        self.f_min_rtol, self.vol_tol_user, self.len_tol_user = f_min_rtol, vol_tol, len_tol
        self.maxf, self.maxt, self.maxdeep = c_budget(maxfun, maxiter, n)
        self.xs1 = ub - lb
        self.xs2 = lb / self.xs1
        if eps < 0.0:
            self.eps_change, self.epsfix, self.eps = True, -eps, -eps
        else:
            self.eps_change, self.epsfix, self.eps = False, 1e100, eps
        self.volper = vol_tol if vol_tol > 0 else -1.0
        self.sigmaper = len_tol if len_tol > 0 else -1.0
        self.fglobal = f_min
        self.fglper = f_min_rtol if f_min != -math.inf else 0.0
        self.divfactor = 1.0 if f_min == 0.0 else abs(f_min)
        self.thirds, self.levels = size_tables(n, self.jones, self.maxdeep)
        self.thirds_list, self.levels_list = self.thirds.tolist(), self.levels.tolist()
        cap = min(max(64, self.maxf + self.maxf // 2 + 2 * n + 2), 1 << 14)  # grows on demand
        self.C = np.empty((cap, n))
        self.L = np.zeros((cap, n), dtype=np.int64)
        self.F = np.empty(cap)
        self.count = 0
        self.lists = _Lists(cap)
        self._arange = np.arange(cap)                 # 0, 1, 2, ... sliced per batch
        self.minf = math.inf
        self.minpos = 0
        self.nfev = 0

    # -- storage -----------------------------------------------------------------------------
    def _reserve(self, extra: int) -> None:
        need = self.count + extra
        cap = self.F.shape[0]
        if need <= cap:
            return
        cap = max(need, 2 * cap)
        for name in ("C", "L", "F"):
            old = getattr(self, name)
            new = np.zeros((cap,) + old.shape[1:], dtype=old.dtype)
            new[: self.count] = old[: self.count]
            setattr(self, name, new)
        self.lists.grow(cap)
        self._arange = np.arange(cap)

    def _evaluate_unit(self, P: np.ndarray) -> np.ndarray:
        return self.evaluate((P + self.xs2) * self.xs1)

    # -- one batch: sample the chosen rectangles, evaluate, divide, file ------------------------
    def _divide(self, rects: np.ndarray, with_centres: bool = False) -> None:
        """Sample, evaluate (one call) and divide ``rects`` in order; ``with_centres`` evaluates
        the rects' own centres first in the same call (the start: the unit cube's centre)."""
        n = self.n
        Lr = self.L[rects]
        shortest = Lr.min(axis=1)
        longest = Lr == shortest[:, None]
        ri, di = longest.nonzero()                   # one pair per long side, rect-major
        npairs = ri.size
        k_pair = shortest[ri]
        self._reserve(2 * npairs)
        # c + delta, then c - delta, per long side
        P = self.C[rects[ri].repeat(2)]
        delta = self.thirds.take(k_pair + 1, mode="clip")
        pick = self._arange[:npairs]
        P[0::2][pick, di] += delta
        P[1::2][pick, di] -= delta

        first = self.count
        if with_centres:
            all_values = self._evaluate_unit(np.concatenate([self.C[rects], P]))
            k = rects.size
            self.F[rects] = all_values[:k]
            self.minf, self.minpos = float(all_values[0]), int(rects[0])
            values = all_values[k:]
            self.nfev += k
        else:
            values = self._evaluate_unit(P)
        self.nfev += values.size
        best = int(values.argmin())
        if values[best] < self.minf:
            self.minf, self.minpos = float(values[best]), first + best

        # cut order inside each rect: by min(f+, f-), ties by side index (lexsort is stable);
        # rank = position in that order (pairs of a rect are contiguous, from ri.searchsorted)
        pairs = values.reshape(npairs, 2)
        order = np.lexsort((pairs.min(axis=1), ri))
        rank = np.empty(npairs, dtype=np.int64)
        rank[order] = self._arange[:npairs]
        rank -= ri.searchsorted(ri)
        rank_of_side = np.full(Lr.shape, n, dtype=np.int64)
        rank_of_side[ri, di] = rank
        pair_len = Lr[ri] + (rank_of_side[ri] <= rank[:, None])

        stop = first + 2 * npairs
        self.C[first:stop] = P
        self.L[first:stop] = pair_len.repeat(2, axis=0)
        self.F[first:stop] = values
        self.L[rects] = Lr + longest
        self.count = stop

        # levels: a pair keeps its rect's shortest length k unless all long sides were cut
        maxi = np.bincount(ri, minlength=rects.size)
        last = rank == (maxi - 1)[ri]
        if self.jones:
            pair_level = k_pair + last
            rect_level = shortest + 1
        else:
            pair_level = np.where(last, (k_pair + 1) * n, k_pair * n + (n - maxi[ri]) + rank + 1)
            rect_level = (shortest + 1) * n
        self.lists.file_divided(rects.tolist(), rect_level.tolist(), self.F[rects].tolist(),
                                maxi.tolist(), pair_level.tolist(), pairs[:, 0].tolist(),
                                pairs[:, 1].tolist(), first)

    # -- the run -----------------------------------------------------------------------------
    def _chosen(self) -> list[tuple[int, int]]:
        """(rect, level) to divide this iteration, in scipy's order."""
        heaps, seq = self.lists.heaps, self.lists.seq
        pop = heapq.heappop
        levels = self.levels_list
        heads, values, sizes = [], [], []
        for level in sorted(heaps):
            h = heaps[level]
            while h and seq[h[0][2]] != h[0][1]:
                pop(h)
            if h:
                heads.append((h[0][2], level))
                values.append(h[0][0])
                sizes.append(size_at(levels, level))
            else:
                del heaps[level]
        chosen = [heads[j] for j in choose(values, sizes, self.minf, self.eps)]
        if self.jones == 0:
            chosen += [(tie, level) for _, level in list(chosen)
                       for tie in self.lists.near_ties(level)]
        return chosen

    def run(self) -> tuple[np.ndarray, float, int, int, int]:
        """Run to a stop; return (x, fun, nfev, nit, status)."""
        self.C[0] = 0.5
        self.count = 1
        self._divide(np.array([0]), with_centres=True)

        status = 2
        t = 2
        while t <= self.maxt - 1:
            chosen = self._chosen()
            if len(chosen) > _MAXDIV:
                status = -6                                  # scipy's S array is full
                break
            deep_stop = False
            for j, (_, level) in enumerate(chosen):
                if level + 1 >= self.maxdeep:
                    chosen, deep_stop = chosen[:j], True
                    break
            if chosen:
                self._divide(np.array([rect for rect, _ in chosen], dtype=np.int64))
            if deep_stop:
                status = -6
                break
            status = self._stop_after_iteration()
            if status:
                break
            t += 1
        else:
            status = 2
        x = self.C[self.minpos] * self.xs1 + self.xs1 * self.xs2
        return x, self.minf, self.nfev, t, status

    def _stop_after_iteration(self) -> int:
        lengths = self.L[self.minpos].tolist()
        n, k = self.n, min(lengths)
        volume_level = k * n + sum(1 for v in lengths if v != k)  # lengths are k or k + 1
        size_level = k if self.jones else volume_level
        if size_at(self.thirds_list, volume_level) <= self.volper:
            return 4
        if size_at(self.levels_list, size_level) <= self.sigmaper:
            return 5
        if (self.minf - self.fglobal) / self.divfactor <= self.fglper:
            return 3
        if self.eps_change:
            a = abs(self.minf) * 1e-4
            self.eps = a if a > self.epsfix else self.epsfix
        if self.nfev > self.maxf:
            return 1
        return 0

    def message(self, status: int) -> str:
        template = MESSAGES[status]
        value = {1: self.maxfun_user, 2: self.maxiter_user, 3: self.f_min_rtol,
                 4: self.vol_tol_user, 5: self.len_tol_user}.get(status)
        return template.format(value) if value is not None else template
