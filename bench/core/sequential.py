"""The sequential stopping rule of the adaptive runs (`fwbench run --max-runs N`), and the simulation that tunes it.

After the planned runs (at least MIN_LOOK a side) the launcher re-takes a comparison's answer after each added run
(bench/launching/adaptive.py), up to N runs a side. Re-testing at the fixed-sample levels (a side where the 95% Welch
interval excludes 1, "the same" where the 90% one lies within the margin) after every look calls a false side or a
false "the same" far more often than 5% (the more looks, the more chances). So every look of a run with a cap of N
uses one constant, stricter level alpha(N) (a Pocock-style constant, tuned by simulation): a side where the
(1 - alpha) Welch interval of the ratio excludes 1; "the same" where the (1 - 2 alpha) interval lies inside
[1/(1+margin), 1+margin] (two one-sided tests at alpha each). The report judges a run with a cap at that same level
(bench.analysis.verdicts), so a comparison that grew adaptively is never re-tested at the fixed-sample level.

alpha(N) is the largest level at which, over every look from MIN_LOOK to N runs a side, the probability of ever
calling a side between equal sides, and of ever calling "the same" at a true ratio of SAME_TRUE_RATIO with a margin
of 10%, is at most TARGET_RATE in every noise case of NOISE_CASES (log-normal run-to-run noise, both sides alike or
one noisier, and a heavy-tailed case), and never looser than the fixed-sample 5%. "Ever" ignores that a comparison
stops at its first decision, so the rates of the procedure itself are lower still. Pure: numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from bench.core import stats
from bench.core.plan import MAX_RUNS_LIMIT

MIN_LOOK = 3  # the fewest runs a side the verdict rule judges: the first look
NOMINAL_ALPHA = 0.05  # the fixed-sample level: one look
TARGET_RATE = 0.045  # the tuned level's false-decision rate in the simulation (5% less its Monte Carlo error)
SAME_TRUE_RATIO = 1.15  # "the same" is calibrated at this true ratio with a 10% margin
TUNING_MARGIN = 0.10
# (kind, log SD of side a, of side b): run-to-run noise of the per-run medians measured between processes
# (results/example: 0.02-0.34, median 0.13)
NOISE_CASES = (("normal", 0.05, 0.05), ("normal", 0.13, 0.13), ("normal", 0.13, 0.05), ("normal", 0.05, 0.13),
               ("t3", 0.05, 0.05))  # fmt: skip

# alpha(cap) at the caps tuned; a cap between two uses the next larger one's (more looks: a stricter level).
# Computed by `PYTHONPATH=. python -m bench.core.sequential` (tune_all: 50,000 simulated comparisons per noise case,
# seed 20261204), 2026-12-04.
ALPHA_AT_CAP: dict[int, float] = {
    3: 0.05,
    4: 0.0261,
    5: 0.0193,
    6: 0.0163,
    8: 0.0119,
    10: 0.0096,
    12: 0.0088,
    16: 0.0075,
    20: 0.0066,
}

# The answers (bench.analysis.verdicts uses these names): a side, the same within the margin, not yet known.
FASTER_A = "faster-a"
FASTER_B = "faster-b"
SAME = "same"
UNKNOWN = "unknown"


def alpha(cap: int) -> float:
    """The per-look level of a run whose comparisons grow to `cap` runs a side (0 or fewer than MIN_LOOK + 1:
    one look, the fixed-sample 5%)."""
    if cap <= MIN_LOOK:
        return NOMINAL_ALPHA
    for tuned in sorted(ALPHA_AT_CAP):
        if cap <= tuned:
            return ALPHA_AT_CAP[tuned]
    raise ValueError(f"a cap of {cap} runs a side is past the {MAX_RUNS_LIMIT} the levels are tuned for")


def confidences(cap: int) -> tuple[float, float]:
    """(the side interval's confidence, the equivalence interval's) at a cap: 0.95 and 0.90 with none."""
    a = alpha(cap)
    return 1 - a, 1 - 2 * a


def decide(
    a: Sequence[float], b: Sequence[float], margin: float, cap: int
) -> tuple[str, tuple[float, float, float]] | None:
    """The answer at one look between per-run medians a and b (a / b): FASTER_A, FASTER_B, SAME or UNKNOWN, with
    the ratio and its side interval at the cap's level. None where the rule cannot judge (fewer than MIN_LOOK runs
    a side, a value <= 0, no spread)."""
    if min(len(a), len(b)) < MIN_LOOK:
        return None
    lr = stats.welch_log_ratio(a, b)
    if lr is None or lr.se is None:
        return None
    side, same = confidences(cap)
    low, high = lr.interval(side)
    r = (math.exp(lr.log_ratio), low, high)
    if low > 1 or high < 1:
        return (FASTER_A if r[0] < 1 else FASTER_B), r
    return (SAME if stats.within_margin(*lr.interval(same), margin) else UNKNOWN), r


def openness(r: tuple[float, float, float], margin: float) -> float:
    """How undecided an interval is: its width on the log scale over the margin's (log(1+m) each way)."""
    return (math.log(r[2]) - math.log(r[1])) / (2 * math.log1p(margin))


# ---- the simulation (vectorised numpy): tuning the levels, and the procedure's rates and expected runs ----


def draw(rng: np.random.Generator, kind: str, sd: float, shape: tuple[int, int]) -> np.ndarray:
    """Log per-run medians around 0: normal with SD `sd`, or t with 3 degrees of freedom scaled by `sd`."""
    return rng.standard_t(3, shape) * sd if kind == "t3" else rng.normal(0.0, sd, shape)


def welch_looks(x: np.ndarray, y: np.ndarray, looks: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Welch's statistics of log samples x, y (replicates x runs) at each look n (the first n runs a side):
    the difference of means, its standard error and the degrees of freedom, each (replicates, looks)."""
    n = np.asarray(looks)
    sx, sy = np.cumsum(x, axis=1)[:, n - 1], np.cumsum(y, axis=1)[:, n - 1]
    qx, qy = np.cumsum(x * x, axis=1)[:, n - 1], np.cumsum(y * y, axis=1)[:, n - 1]
    vx = (qx - sx * sx / n) / (n - 1) / n
    vy = (qy - sy * sy / n) / (n - 1) / n
    se = np.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (n - 1) + vy**2 / (n - 1))
    return sx / n - sy / n, se, df


def side_p(d: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Welch's two-sided p-value: a side is called at level alpha where it is below alpha."""
    return 2 * sps.t.sf(np.abs(d) / se, df)


def same_p(d: np.ndarray, se: np.ndarray, df: np.ndarray, margin: float) -> np.ndarray:
    """The two one-sided tests' p-value (the larger): "the same" is called at level alpha where it is below alpha,
    exactly where the (1 - 2 alpha) interval lies within [1/(1+margin), 1+margin]."""
    lo, hi = -math.log1p(margin), math.log1p(margin)
    return np.maximum(sps.t.sf((d - lo) / se, df), sps.t.sf((hi - d) / se, df))


def samples(
    rng: np.random.Generator, ratio: float, case: tuple[str, float, float], cap: int, reps: int
) -> tuple[np.ndarray, np.ndarray]:
    """`reps` simulated comparisons of `cap` runs a side: side a's log medians log(ratio) above side b's."""
    kind, sa, sb = case
    return math.log(ratio) + draw(rng, kind, sa, (reps, cap)), draw(rng, kind, sb, (reps, cap))


def tune(cap: int, reps: int = 50_000, seed: int = 20261204, target: float = TARGET_RATE) -> float:
    """alpha(cap): the largest level whose rate of ever calling a side (true ratio 1) and of ever calling "the
    same" (true SAME_TRUE_RATIO, margin TUNING_MARGIN) over the looks MIN_LOOK..cap is at most `target` in every
    NOISE_CASES case, at most NOMINAL_ALPHA. The rate at level alpha is P(min over looks of the p-value < alpha),
    so the level is the `target` quantile of that minimum."""
    rng = np.random.default_rng(seed)
    looks = range(MIN_LOOK, cap + 1)
    levels = [NOMINAL_ALPHA]
    for case in NOISE_CASES:
        d, se, df = welch_looks(*samples(rng, 1.0, case, cap, reps), looks)
        levels.append(float(np.quantile(side_p(d, se, df).min(axis=1), target)))
        d, se, df = welch_looks(*samples(rng, SAME_TRUE_RATIO, case, cap, reps), looks)
        levels.append(float(np.quantile(same_p(d, se, df, TUNING_MARGIN).min(axis=1), target)))
    return min(levels)


def procedure(
    x: np.ndarray, y: np.ndarray, first: int, cap: int, level: float, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """The stopping rule on simulated paths: looks at first..cap runs a side, each at `level`; stop at the first
    decision. Returns each replicate's answer (0 not known at the cap, 1 side a faster, 2 side b faster, 3 the
    same) and its runs a side when it stopped."""
    looks = list(range(first, cap + 1))
    d, se, df = welch_looks(x, y, looks)
    side = side_p(d, se, df) < level
    same = (same_p(d, se, df, margin) < level) & ~side
    code = np.where(side, np.where(d < 0, 1, 2), np.where(same, 3, 0))
    decided = code > 0
    at = np.where(decided.any(axis=1), decided.argmax(axis=1), len(looks) - 1)
    answer = code[np.arange(len(code)), at]
    return answer, np.asarray(looks)[at]


def rates(
    ratio: float, case: tuple[str, float, float], cap: int, level: float, reps: int = 20_000, seed: int = 1,
    first: int = MIN_LOOK, margin: float = TUNING_MARGIN,
) -> dict[str, float]:  # fmt: skip
    """The procedure's outcome rates at a true ratio a / b, and its mean runs a side at the stop."""
    answer, runs = procedure(*samples(np.random.default_rng(seed), ratio, case, cap, reps), first, cap, level, margin)
    return {
        "faster-a": float(np.mean(answer == 1)),
        "faster-b": float(np.mean(answer == 2)),
        "same": float(np.mean(answer == 3)),
        "unknown": float(np.mean(answer == 0)),
        "runs": float(runs.mean()),
    }


def tune_all(reps: int = 50_000) -> dict[int, float]:
    """ALPHA_AT_CAP, recomputed."""
    return {
        cap: (NOMINAL_ALPHA if cap <= MIN_LOOK else math.floor(tune(cap, reps) * 1e4) / 1e4) for cap in ALPHA_AT_CAP
    }


if __name__ == "__main__":
    for cap, level in tune_all().items():
        print(f"    {cap}: {level},")
