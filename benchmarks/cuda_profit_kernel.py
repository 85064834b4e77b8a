"""profit_kernel on a GPU: the reference (one candidate per call on a CUDA market) against the
optimized batch kernel in float64 and float32, at K candidates x 2,000 bars; each also against
the batch kernel on the CPU.

Run on a machine with a GPU::

    python benchmarks/cuda_profit_kernel.py                 # K in 1, 16, 256, 4096
    python benchmarks/cuda_profit_kernel.py --sizes 16 256 --samples 21
    python benchmarks/cuda_profit_kernel.py --device cpu    # the same table on the CPU

Samples are interleaved (every round times each variant once, in a rotating order); a sample
lasts at least ``--min-sample-ms``. The table shows each variant's median time per call, and its
speedup over the reference: the median of the per-round ratios with a bootstrap 95% interval.
Every variant returns numpy on the host, so each call includes its device-to-host copy (a sync).
Not an asv benchmark (nothing here is named ``time_*``); asv only imports it.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

N_BARS = 2_000
CPU_BATCH = "CPU batch float64"


def _median_ci(values) -> tuple[float, float, float]:
    try:
        from pairbench.measure import median_ci
    except ImportError:  # pragma: no cover - pairbench not installed: a percentile bootstrap
        import numpy as np

        arr = np.asarray(values, dtype=float)
        rng = np.random.default_rng(0)
        meds = np.median(rng.choice(arr, (2000, arr.size)), axis=1)
        return float(np.median(arr)), float(np.quantile(meds, 0.025)), float(np.quantile(meds, 0.975))
    return median_ci(values)


def _calls_per_sample(fn: Callable[[], object], min_s: float) -> int:
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        spent = time.perf_counter() - t0
        if spent >= min_s:
            return n
        n = max(2 * n, int(n * 1.2 * min_s / max(spent, 1e-9)))


def _variants(device: str, k: int, seed: int) -> tuple[dict[str, Callable[[], object]], dict[str, float]]:
    import numpy as np
    import torch

    import optimized.profit_kernel as opt
    import reference.profit_kernel as ref
    from pairbench.pairs.profit_kernel import make_candidates

    market = ref.make_market(N_BARS, seed=seed)
    on_device = market.to(device)
    params = make_candidates(k, seed)
    variants = {
        "reference": lambda: ref.profit_batch(on_device, params),
        "optimized float64": lambda: opt.profit_batch(market, params, device=device),
        "optimized float32": lambda: opt.profit_batch(market, params, device=device, dtype=torch.float32),
    }
    if device != "cpu":  # the batch kernel on the host: what the device adds over the CPU batch
        variants[CPU_BATCH] = lambda: opt.profit_batch(market, params, device="cpu")
    truth = ref.profit_batch(market, params)  # float64 on the CPU
    deviation = {}
    for name, fn in variants.items():  # first calls: warm-up, device transfers, equivalence
        deviation[name] = float(np.max(np.abs(fn() - truth)))
    return variants, deviation


def _speedup(base: list[float], times: list[float]) -> str:
    """Median of the per-round ratios base/times with its bootstrap 95% interval."""
    if base is times:
        return "1.00x"
    s, lo, hi = _median_ci([b / t for b, t in zip(base, times)])
    return f"{s:.2f}x [{lo:.2f}x, {hi:.2f}x]"


def run(device: str, sizes: list[int], samples: int, min_sample_s: float, seed: int) -> int:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        print("cuda_profit_kernel: no CUDA device (torch.cuda.is_available() is False); "
              "run on a GPU machine, or pass --device cpu", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "CPU"
    print(f"device: {name}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}; "
          f"{N_BARS} bars; {samples} interleaved samples of >= {min_sample_s * 1e3:.0f} ms")
    header = (f"{'K':>6}  {'variant':<18} {'median/call':>12}  {'vs one-candidate loop [95% CI]':<32} "
              f"{'vs CPU batch [95% CI]':<28} {'max |diff| vs CPU float64':>26}")
    print(header)
    print("-" * len(header))
    for k in sizes:
        variants, deviation = _variants(device, k, seed)
        calls = {v: _calls_per_sample(fn, min_sample_s) for v, fn in variants.items()}
        times: dict[str, list[float]] = {v: [] for v in variants}
        names = list(variants)
        for i in range(samples):
            order = names[i % len(names):] + names[:i % len(names)]
            for v in order:
                fn, n = variants[v], calls[v]
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                times[v].append((time.perf_counter() - t0) / n)
        for v in names:
            med, _, _ = _median_ci(times[v])
            over_loop = _speedup(times["reference"], times[v])
            over_cpu = _speedup(times[CPU_BATCH], times[v]) if CPU_BATCH in times else "-"
            print(f"{k:>6}  {v:<18} {med * 1e3:>9.3f} ms  {over_loop:<32} {over_cpu:<28} {deviation[v]:>26.3g}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 256, 4096], help="candidate counts K")
    parser.add_argument("--samples", type=int, default=15, help="interleaved samples per variant")
    parser.add_argument("--min-sample-ms", type=float, default=20.0, help="shortest sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if any(k < 1 for k in args.sizes) or args.samples < 3:
        parser.error("sizes must be >= 1 and samples >= 3")
    return run(args.device, args.sizes, args.samples, args.min_sample_ms / 1e3, args.seed)


if __name__ == "__main__":
    sys.exit(main())
