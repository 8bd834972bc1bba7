"""The report's Summary, first in every report: per workload the fastest PyTorch backend against the fastest
TensorFlow one (faster, sooner and leaner under bench/analysis/verdicts.py's rule), the overall sentence across
workloads, a Details table with the intervals, then the inference and export scenarios' answer
(bench/report/deployment.py) and the profile scenario's (bench/report/time_breakdown.py: where the gap's time goes,
the speed settings that differ). `fwbench run` prints it when a run ends (bench.report.document.summary_text).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from tabulate import tabulate

from bench.analysis import cells
from bench.analysis.cells import MIN_RUNS_FOR_RUN_LEVEL_CI, Cell, names_scenarios, provenance
from bench.analysis.verdicts import (
    ALPHA,
    LEANER_MIN_FRACTION,
    LEANER_MIN_MIB,
    SAME,
    SIDES,
    UNKNOWN,
    AccuracyTest,
    Ratio,
    WorkloadVerdict,
    framework_answer,
    overall,
    workload_verdicts,
)
from bench.core import sequential
from bench.core.formatting import blank_missing, fmt_ci, markdown, runs_text, workload_label
from bench.core.stats import DEFAULT_MARGIN
from bench.records.results import Suite
from bench.report import deployment, time_breakdown

SUMMARY_HEADING = "## Summary: PyTorch vs TensorFlow"


def summary_section(cs: Sequence[Cell], suites: Sequence[Suite], margin: float = DEFAULT_MARGIN) -> list[str]:
    """The headline answer, first in every report: the training scenarios' (per workload the fastest backend
    of each framework, then one cross-workload line), then the inference and export scenarios' (the fastest
    runtime of each framework per workload); [] when neither has a workload with both frameworks. `margin`:
    how close two sides must be shown to be to be "the same" (a fraction of the time)."""
    training = training_summary(cs, suites, margin)
    deploy_lines = deployment.summary_lines(suites, alone=not training, margin=margin)
    profile_lines = time_breakdown.summary_lines(suites)
    if not training and not deploy_lines and not profile_lines:
        return []
    return [SUMMARY_HEADING, "", *training, *deploy_lines, *profile_lines]


def verdict_word(r: Ratio | None, why_not: str = "") -> str:
    """The rule's answer to faster or sooner (a ratio TF / PT): a framework, "the same" (within the margin),
    "not yet known" (neither shown), or "no verdict" (the rule cannot judge: too few runs, contended)."""
    if r is None:
        return "-"
    if why_not or not r.run_level:
        return "no verdict"
    return ANSWER_WORDS.get(framework_answer(r), "no verdict")


ANSWER_WORDS = {"PyTorch": "PyTorch", "TensorFlow": "TensorFlow", SAME: "the same", UNKNOWN: "not yet known"}


def margin_text(margin: float) -> str:
    """'10% (a ratio within [0.91, 1.10]': the margin of "the same" as the legend states it (parenthesis open)."""
    return f"{margin * 100:g}% (a ratio within [{1 / (1 + margin):.2f}, {1 + margin:.2f}]"


def training_summary(cs: Sequence[Cell], suites: Sequence[Suite], margin: float = DEFAULT_MARGIN) -> list[str]:
    """The overall sentence; per workload one line that answers faster, sooner and leaner with the rule's
    verdicts (text that fits PROSE_WIDTH once wrapped); then a Details table with the ratios' intervals,
    the metric, memory and why a verdict is missing."""
    cap = max((s.plan.max_runs for s in suites if s.plan is not None), default=0)
    verdicts = workload_verdicts(cs, margin, cap)
    if not verdicts:
        return []
    stops = {(a["workload"], a["precision"]): a for s in suites for a in s.adaptive}
    answers, details = [], []
    named = names_scenarios(cs)
    for v in verdicts:
        label = verdict_label(v, verdicts, named)
        why = v.speed.why_not if v.speed is not None else ""
        sooner_why = v.sooner.why_not if v.sooner is not None and not v.speed_only else ""
        sooner = (
            "speed only"
            if v.speed_only
            else f"**{verdict_word(v.sooner, sooner_why)}** ({fmt_ci(v.sooner)})"
            if v.sooner is not None
            else "-"
        )
        faster = f"**{verdict_word(v.speed, why)}** ({fmt_ci(v.speed)})" if v.speed else "-"
        answers.append(
            f"- **{label}**, {v.torch.backend} vs {v.tf.backend}: faster {faster}, sooner {sooner}, "
            f"leaner {leaner_text(v.leaner)}"
        )
        notes = (
            [f"{why} (step time and time to target)"]
            if why and why == sooner_why
            else [f"step time: {why}"] * bool(why) + [f"time to target: {sooner_why}"] * bool(sooner_why)
        )
        if v.speed is not None and v.speed.runs_to_resolve:
            notes.append(
                f'step time: {runs_text(v.speed.runs_to_resolve)} a side would show "the same" 80% of the '
                "time if the true ratio were 1"
            )
        if (stop := stops.get((v.workload, v.torch.precision))) is not None:
            notes.append(stop_text(stop))
        details.append(
            {
                "workload": label,
                "PyTorch": v.torch.backend,
                "TensorFlow": v.tf.backend,
                "step time TF / PT [95% CI]": fmt_ci(v.speed),
                "time to target TF / PT": "speed only" if v.speed_only else fmt_ci(v.sooner),
                "final metric TF − PT (Welch)": accuracy_text(v),
                "training MiB TF − PT (Welch)": memory_detail(v.leaner),
                "process peak MiB TF − PT": difference(v.peak_mib_tf, v.peak_mib_torch),
                "notes": "; ".join(notes),
            }
        )
    return [
        overall_sentence(verdicts, cs, suites),
        "",
        *answers,
        "",
        "Details:",
        "",
        markdown(blank_missing(pd.DataFrame(details))),
        "",
        *details_legend(margin, cap),
        "",
    ]


def verdict_label(v: WorkloadVerdict, verdicts: Sequence[WorkloadVerdict], named: bool) -> str:
    """The workload's name in the summary: with its scenario where several are named, its device where several."""
    label = workload_label(v.workload, v.torch.scenario, named)
    return label if len({x.device_model for x in verdicts}) == 1 else f"{label} on {v.device_model}"


TERMINAL_CODES = {"PyTorch": "PT", "TensorFlow": "TF", SAME: "same", UNKNOWN: "?"}


def terminal_lines(cs: Sequence[Cell], suites: Sequence[Suite], margin: float = DEFAULT_MARGIN) -> list[str]:
    """The training answer as `fwbench run` prints it: the overall sentence, then one row per workload (faster,
    sooner, leaner: each the rule's answer in short with its interval) that fits 100 columns, and a legend.
    The Details table, notes and side tables stay in REPORT.md. [] without a workload in both frameworks."""
    cap = max((s.plan.max_runs for s in suites if s.plan is not None), default=0)
    verdicts = workload_verdicts(cs, margin, cap)
    if not verdicts:
        return []
    named = names_scenarios(cs)
    level = (
        f"Time intervals at the sequential level ({sequential.confidences(cap)[0]:.1%}, --max-runs {cap}), memory 95%."
        if cap
        else "Intervals 95%."
    )
    rows = [
        {
            "workload": verdict_label(v, verdicts, named),
            "faster TF/PT [CI]": terminal_ratio(v.speed),
            "sooner TF/PT [CI]": "speed only" if v.speed_only else terminal_ratio(v.sooner),
            "leaner TF−PT MiB [CI]": terminal_leaner(v.leaner),
        }
        for v in verdicts
    ]
    return [
        overall_sentence(verdicts, cs, suites).strip("*"),
        "",
        tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True),
        "",
        "PT / TF: that framework is faster (sooner, leaner), its interval excluding no difference; same: the same "
        f"within {margin * 100:g}% (time) or the memory floor; ?: not yet known; n/v: no verdict (REPORT.md's "
        f"notes say why). Ratios above 1: PyTorch takes less time; memory above 0: PyTorch adds less. {level}",
    ]


def terminal_ratio(r: Ratio | None) -> str:
    """'PT   1.23 [1.10, 1.40]*': a ratio's answer in short (TERMINAL_CODES, n/v: no verdict) and its 95% CI."""
    if r is None:
        return "-"
    code = "n/v" if r.why_not or not r.run_level else TERMINAL_CODES.get(framework_answer(r), "n/v")
    return f"{code:<4} {fmt_ci(r)}"


def terminal_leaner(t: AccuracyTest | None) -> str:
    """'PT   +35 [+31, +39]': the leaner answer in short and TF − PT training MiB with its 95% CI."""
    if t is None:
        return "-"
    code = {"differ": "PT" if t.difference > 0 else "TF", "the same": "same", "no verdict": "n/v"}.get(t.verdict, "?")
    interval = f" [{t.low:+,.0f}, {t.high:+,.0f}]" if t.low is not None and t.high is not None else ""
    return f"{code:<4} {t.difference:+,.0f}{interval}"


def details_legend(margin: float, cap: int) -> list[str]:
    """The Details table's legend: what each answer and column means; with `cap`, the adaptive runs' level."""
    return [
        "- Per workload, the fastest PyTorch backend against the fastest TensorFlow one (lowest median step time); "
        'each answer names the side the rule finds better, "the same" (shown equal within the margin), "not yet '
        'known" (neither shown: the interval reaches past the margin and across 1) or "no verdict" (the rule '
        "cannot judge: the notes say why, and how many runs would decide it).",
        "- Faster: steady-state step time TF / PT, above 1 PyTorch is faster; `*` and a side only with "
        f"{MIN_RUNS_FOR_RUN_LEVEL_CI}+ runs a side, none contended, and Welch's t on the log per-run medians at "
        'p < 0.05 (a 95% CI that excludes 1); "the same" where the 90% Welch interval lies within the margin of '
        f"{margin_text(margin)}; two one-sided tests at 5%; `--margin` sets it).",
        "- Sooner: time to target (training-step time until the metric first reached the target, the first "
        "step's compilation included), TF / PT under the same rule; faster and sooner can disagree where one "
        "framework compiles longer.",
        "- Leaner: what training added, TF − PT in MiB (CPU: peak RSS minus RSS after imports and data; GPU: "
        f"allocator peak), with Welch's t on the per-run figures: a side only with {MIN_RUNS_FOR_RUN_LEVEL_CI}+ runs "
        f"a side, p < {ALPHA} and a difference of at least {LEANER_MIN_MIB:g} MiB and "
        f'{LEANER_MIN_FRACTION:.0%} (docs/METHODOLOGY.md); "the same" where the 90% Welch interval of the '
        "difference lies within that floor either way; process peak: the whole worker's, the "
        "framework's own libraries included.",
        "- Metric: difference of the mean final metric over seeds, with Welch's two-sided t-test "
        f"(α = {ALPHA}) and its 95% CI; one seed per side gets no test.",
        *adaptive_legend(cap),
    ]


def stop_text(stop: dict) -> str:
    """'8 runs a side (cap)': a comparison's runs after the adaptive phase and why it stopped adding runs."""
    pt, tf = stop["runs"]
    runs = f"{pt} runs a side" if pt == tf else f"{pt} PyTorch / {tf} TensorFlow runs"
    return f"{runs} ({stop['stopped']}{': ' + stop['why'] if stop.get('why') else ''})"


def adaptive_legend(cap: int) -> list[str]:
    """The legend's line for a run that added runs where the answer was open (--max-runs), else nothing."""
    if not cap:
        return []
    side, same = sequential.confidences(cap)
    return [
        f"- Adaptive runs (`--max-runs {cap}`): after the planned runs, one more run a side was added to each open "
        f"comparison until it was decided, had {cap} runs a side (cap) or the budget was spent (the notes say "
        f"which). Since the answer was re-taken after every run, faster and sooner are judged at the sequential "
        f"level: a side where the {side:.1%} interval (shown) excludes 1, the same where the {same:.1%} interval "
        'lies within the margin (docs/METHODOLOGY.md, "Adaptive runs").'
    ]


def accuracy_text(v: WorkloadVerdict) -> str:
    acc = v.accuracy
    metric = v.torch.runs[0].metric_name
    if v.speed_only:
        return "speed only in this profile"
    if acc is None:
        return "-"
    if acc.p_value is None:
        return f"{metric} {acc.difference:+.3g} ({acc.verdict})"
    if acc.low is not None and acc.high is not None and acc.low != acc.high:
        return f"{metric} {acc.difference:+.3g} [{acc.low:+.3g}, {acc.high:+.3g}], p={acc.p_value:.2g}: {acc.verdict}"
    return f"{metric} {acc.difference:+.3g}: {acc.verdict} on every seed"


def leaner_text(t: AccuracyTest | None) -> str:
    """'**PyTorch** (+130 MiB)': which side the rule finds leaner ("the same", "not yet known", "no verdict"),
    TF − PT training MiB."""
    if t is None:
        return "-"
    word = {
        "differ": "PyTorch" if t.difference > 0 else "TensorFlow",
        "no verdict": "no verdict",
        "the same": "the same",
    }
    return f"**{word.get(t.verdict, 'not yet known')}** ({t.difference:+,.0f} MiB)"


def memory_detail(t: AccuracyTest | None) -> str:
    if t is None:
        return "-"
    if t.p_value is None or t.low is None or t.high is None:
        return f"{t.difference:+,.1f} ({t.verdict})"
    return f"{t.difference:+,.1f} [{t.low:+,.1f}, {t.high:+,.1f}], p={t.p_value:.2g}: {t.verdict}"


def difference(tf: float | None, torch: float | None) -> str:
    return f"{tf - torch:+,.0f}" if tf is not None and torch is not None else "-"


def overall_sentence(verdicts: Sequence[WorkloadVerdict], cs: Sequence[Cell], suites: Sequence[Suite]) -> str:
    # One geometric mean per precision, scenario or worker count would be several answers, and would count a
    # workload once per scenario: the sentence is the fp32 training scenario's (where there is one), and the
    # others keep their own rows and sections (precision, deployment, scaling).
    verdicts = [v for v in verdicts if v.torch.scenario == cells.DEFAULT_SCENARIO] or [
        v for v in verdicts if v.torch.precision == cells.DEFAULT_PRECISION
    ] or list(verdicts)  # fmt: skip
    o = overall(verdicts)
    if o is None:
        return "No workload has an ok run in both frameworks."
    devices = ", ".join(sorted({f"{c.device_model} ({c.device})" for c in cs if c.ok}))
    threads = sorted({s.plan.threads for s in suites if s.plan})
    thread_text = f", {'/'.join(map(str, threads))} thread(s) per framework" if threads else ""
    profiles = ", ".join(sorted({c.runs[0].profile for c in cs if c.ok}))
    kinds: dict[str, list[str]] = {}
    for v in verdicts:
        ds = v.torch.runs[0].dataset
        kinds.setdefault(provenance(ds), []).append(v.workload)
    data_text = "; ".join(f"{kind} for {', '.join(dict.fromkeys(ws))}" for kind, ws in kinds.items())
    verdict_text = (
        f"PyTorch faster in {o.pytorch_wins}, TensorFlow faster in {o.tensorflow_wins}, the same within "
        f"{o.margin * 100:g}% in {o.same}, not yet known in {o.unknown}"
        + (
            f", no verdict in {o.workloads - o.verdict_allowed} (too few runs or contended)"
            if o.verdict_allowed < o.workloads
            else ""
        )
    )
    if o.verdict_allowed < o.workloads:
        conclusion = "no overall verdict: some workloads lack run-to-run evidence"
    elif o.answer in SIDES:
        faster, factor = ("PyTorch", o.geomean) if o.geomean > 1 else ("TensorFlow", 1 / o.geomean)
        conclusion = f"{faster} is {factor:.2f}x faster on this suite"
    elif o.answer == SAME:
        conclusion = f"the same within {o.margin * 100:g}% on this suite"
    else:
        conclusion = "not yet known overall"
    n = o.workloads
    return (
        f"**On {devices}{thread_text}, {profiles} profile, data {data_text}: across {n} workload{'s' if n != 1 else ''} "
        f"the fastest TensorFlow backend's step time is {o.geomean:.2f}x the fastest PyTorch backend's (geometric "
        f"mean, 95% CI [{o.low:.2f}, {o.high:.2f}]): {conclusion}; {verdict_text}.**"
    )
