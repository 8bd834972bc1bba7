"""The report is rendered from results files only: a fixed results file gives a fixed markdown.

To accept an intended change of the report's layout: FWBENCH_UPDATE_GOLDEN=1 pytest tests/test_report.py
(then read the diff of tests/data/REPORT-*.md before committing it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench import cli
from bench.analysis import cells
from bench.analysis.verdicts import ratio, workload_verdicts
from bench.core import backends, formatting
from bench.records import pbjson, results
from bench.report import codesize, document, figures, per_workload

from .conftest import REPO, fwbench, prose

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "suite-mlp-iris.json"
GOLDEN = DATA / "REPORT-suite-mlp-iris.md"
# Real `pytest tests/benchmarks --benchmark-only -k mlp-iris -m torch|keras --benchmark-json FILE` output,
# recorded while the shared machine was heavily loaded (hence torchscript's 332 ms steps).
PB_FILES = (DATA / "pytest-benchmark-mlp-iris-torch.json", DATA / "pytest-benchmark-mlp-iris-keras.json")
PB_GOLDEN = DATA / "REPORT-pytest-benchmark-mlp-iris.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_golden(text: str, golden: Path) -> None:
    if os.environ.get("FWBENCH_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def headline_row(text: str, workload: str, backend: str) -> str:
    """The backend's row in the workload's table, its row in the Details table after it appended (without
    its backend cell): one line whose cells are backend, framework, metric, time to target, step ms, vs
    torch-eager, runs, samples/s, train / peak MiB, first step ms, GFLOP/s, steady steps."""
    section = re.split(r"\n##+ ", text.split(f"### {workload}\n", 1)[1], maxsplit=1)[0]
    found = [ln for ln in section.splitlines() if re.match(rf"\|\s*{re.escape(backend)}\s*\|", ln)]
    return found[0] + (found[1].split("|", 2)[2] if len(found) > 1 else "")


def later_run(suite: results.Suite, minutes: int, slower: float) -> results.Suite:
    """A copy of a suite as if run later, every step `slower` times as long."""
    when = datetime.fromisoformat(suite.created_at) + timedelta(minutes=minutes)
    rs = [
        dataclasses.replace(r, step_ms=[t * slower for t in r.step_ms], median_step_ms=r.median_step_ms * slower)
        if r.median_step_ms
        else r
        for r in suite.results
    ]
    return dataclasses.replace(suite, run_id=f"later-{minutes}", created_at=when.isoformat(), results=rs)


def test_report_from_a_fixed_results_file_matches_the_expected_markdown(tmp_path: Path) -> None:
    path = document.write([results.load(FIXTURE)], tmp_path)
    check_golden(path.read_text(), GOLDEN)


def test_the_report_links_its_plots_relatively_and_they_are_pngs(tmp_path: Path) -> None:
    text = document.write([results.load(FIXTURE)], tmp_path).read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["plots/step_time.png", "plots/metric.png", "plots/memory.png"]
    for link in links:
        assert (tmp_path / link).read_bytes()[:8] == PNG_MAGIC


def test_every_number_in_the_headline_comes_from_the_results_file() -> None:
    suite = results.load(FIXTURE)
    text = document.render([suite])
    for r in suite.results:
        row = headline_row(text, r.workload, r.backend)
        assert formatting.fmt(r.median_step_ms) in row
        assert formatting.fmt(r.ci95_step_ms[0]) in row and formatting.fmt(r.ci95_step_ms[1]) in row
        assert formatting.fmt(r.metric) in row
        assert formatting.fmt(r.first_step_ms) in row
        assert formatting.fmt(r.memory.peak_mib) in row
        assert formatting.fmt(r.time_to_target_s) in row
        assert formatting.fmt(r.throughput_samples_s) in row


def test_failed_and_unsupported_cells_show_their_reason() -> None:
    suite = results.load(FIXTURE)
    broken = [
        dataclasses.replace(r, status="failed", reason="Traceback ...\nworker died with SIGSEGV")
        if r.backend == "keras"
        else dataclasses.replace(r, status="unsupported", reason="torch.jit.script cannot compile this model")
        if r.backend == "torchscript"
        else r
        for r in suite.results
    ]
    text = document.render([dataclasses.replace(suite, results=broken)])
    assert "failed: worker died with SIGSEGV" in headline_row(text, "mlp-iris", "keras")
    assert "unsupported: torch.jit.script cannot compile this model" in headline_row(text, "mlp-iris", "torchscript")
    assert "| failed " in text.split("**Execution mode**")[1]  # the seed table says so too


def test_a_cell_with_failed_repeats_says_how_many_and_uses_the_ok_runs_only() -> None:
    suite = results.load(FIXTURE)
    (keras,) = [r for r in suite.results if r.backend == "keras"]
    repeats = [
        dataclasses.replace(keras, repeat=1),
        dataclasses.replace(
            keras, repeat=2, step_ms=[t * 3 for t in keras.step_ms], median_step_ms=keras.median_step_ms * 3
        ),
        dataclasses.replace(
            keras, repeat=3, status="timeout", reason="time limit 60 s", step_ms=[], median_step_ms=None
        ),
    ]
    others = [r for r in suite.results if r.backend != "keras"]
    row = headline_row(document.render([dataclasses.replace(suite, results=others + repeats)]), "mlp-iris", "keras")
    assert "| 2 of 3 (1 timeout) |" in row
    (cell,) = [c for c in cells.cells([dataclasses.replace(suite, results=others + repeats)]) if c.backend == "keras"]
    assert len(cell.runs) == 2 and [r.status for r in cell.failed] == ["timeout"]
    assert per_workload.runs_text(cell) == "2 of 3 (1 timeout)"


def test_gflops_are_shown_where_recorded() -> None:
    suite = results.load(FIXTURE)
    rs = [dataclasses.replace(r, achieved_gflops=1.234, peak_fraction=0.05) for r in suite.results]
    text = document.render([dataclasses.replace(suite, results=rs)])
    assert "1.23 (5%)" in headline_row(text, "mlp-iris", "keras")
    assert headline_row(document.render([suite]), "mlp-iris", "keras").split("|")[11].strip() == "-"


def test_the_seed_table_counts_code_lines_of_each_twin_itself() -> None:
    text = document.render([results.load(FIXTURE)])
    sizes = codesize.twins("mlp")
    row = next(ln for ln in text.splitlines() if ln.startswith("| mlp "))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells == [
        "mlp",
        "mlp-iris",
        str(sizes["torch"].model_lines),
        str(sizes["keras"].model_lines),
        str(sizes["torch"].twin_lines),
        str(sizes["keras"].twin_lines),
    ]
    assert "research popularity and libraries" in prose(text) and "are left out" in text
    assert "not run in these results; `fwbench run --scenario export` measures it" in prose(text)


def test_the_code_line_rule(tmp_path: Path) -> None:
    twin = tmp_path / "twin.py"
    twin.write_text(
        '"""Module docstring,\ntwo lines."""\n'
        "from __future__ import annotations\n"
        "import keras\n"
        "\n"
        "# a comment\n"
        "class Block:  # counted: build uses it\n"
        '    """Docstring."""\n'
        "    width = 3\n"
        "\n"
        "def helper_of_train_step(x):\n"
        "    return x\n"
        "\n"
        "def build(workload):\n"
        "    # comment inside\n"
        "    return {\n"
        '        "net": Block(),\n'
        "    }\n"
        "\n"
        "def train_step(parts, optimizers, batch):\n"
        "    return helper_of_train_step(batch)\n"
        "\n"
        "def layer_map(parts):\n"
        "    return []\n"
    )
    size = codesize.measure(twin)
    # model definition: class Block (2 lines: the class line and `width`) + build (4 lines)
    assert size.model_lines == 6
    # twin module: the model definition + helper (2) + train_step (2); no imports, layer_map, docstrings
    assert size.twin_lines == 10


def test_trends_appear_when_two_runs_of_the_same_device_model_exist(tmp_path: Path) -> None:
    suite = results.load(FIXTURE)
    assert figures.trend_series([suite]) == {}
    later = later_run(suite, minutes=60, slower=1.5)
    series = figures.trend_series([suite, later])
    points = series["AMD EPYC"]["mlp-iris"]["keras"]
    assert [round(p[1], 6) for p in points] == [
        round(suite.results[3].median_step_ms, 6),
        round(suite.results[3].median_step_ms * 1.5, 6),
    ]
    text = document.write([later], tmp_path, history=[suite]).read_text()
    assert "![Step time over runs on AMD EPYC](plots/trend-amd-epyc.png)" in text
    assert (tmp_path / "plots" / "trend-amd-epyc.png").read_bytes()[:8] == PNG_MAGIC
    other = dataclasses.replace(suite, run_id="elsewhere", environment={**suite.environment, "cpu_model": "Other"})
    assert "Other" not in figures.trend_series([suite, other])  # one run per device model: no trend


def test_history_skips_files_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert [s.run_id for s in document.load_history([FIXTURE, bad, tmp_path / "missing.json"])] == [
        results.load(FIXTURE).run_id
    ]


def test_report_from_pytest_benchmark_json_matches_the_expected_markdown(tmp_path: Path) -> None:
    path = document.write(pbjson.load_all_any(PB_FILES), tmp_path)
    check_golden(path.read_text(), PB_GOLDEN)


def test_pytest_benchmark_json_gives_the_same_table_shape_with_its_own_numbers() -> None:
    doc = json.loads(PB_FILES[0].read_text())
    suites = pbjson.load_all_any(PB_FILES)
    text = document.render(suites)
    fixture_text = document.render([results.load(FIXTURE)])

    def columns(t: str) -> list[str]:
        return [c.strip() for c in next(ln for ln in t.splitlines() if ln.startswith("| backend ")).split("|")]

    assert columns(text) == columns(fixture_text)
    for bm in doc["benchmarks"]:
        row = headline_row(text, "mlp-iris", bm["extra_info"]["backend"])
        assert formatting.fmt(bm["stats"]["median"] * 1e3) in row
        assert formatting.fmt(bm["extra_info"]["metric_after_rounds"]) in row
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[3] == "-" and cells[8] == "-" and cells[9] == "-"  # time to target, memory, first step
    assert "not recorded by pytest-benchmark" in text
    assert {r.backend for s in suites for r in s.results} == {
        "torch-eager",
        "torchscript",
        "torch-compile",
        "keras",
        "keras-xla",
    }


def test_fwbench_report_reads_pytest_benchmark_json_by_content(tmp_path: Path) -> None:
    p = fwbench("report", *map(str, PB_FILES), "--out", str(tmp_path), timeout=120)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "REPORT.md").read_text()
    assert "pytest-benchmark JSON" in text and (tmp_path / "plots" / "step_time.png").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"benchmarks": [], "machine_info": {}, "datetime": "2026-01-01T00:00:00"}', "without benchmarks"),
        ('{"benchmarks": [{"name": "t", "stats": {"median": 1}}], "machine_info": {}}', "no workload/backend"),
        ('{"some": "json"}', "neither an fwbench results file nor pytest-benchmark JSON"),
        (
            '{"benchmarks": [{"extra_info": {"workload": "mlp-iris", "backend": "keras"}, "stats": {"median": "x"}}],'
            ' "machine_info": {}}',
            "benchmarks[0] is not a pytest-benchmark record",
        ),
    ],
)
def test_bad_report_input_is_one_line_and_exit_2(tmp_path: Path, content: str, message: str, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert cli.main(["report", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out" / "REPORT.md").exists()


def test_a_busy_host_is_flagged_up_front() -> None:
    busy = document.render([results.load(DATA / "compare-repeat-a.json")])  # recorded at load 5-7 on 2 CPUs
    assert "**Warning: busy host.** `20261125T191537Z-1240cc` (load average up to 6.7 on 2 CPUs)" in busy
    assert "busy host" not in document.render([results.load(FIXTURE)])  # no load recorded: no claim


def test_report_on_a_folder_without_results_files_touches_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    document.write([results.load(FIXTURE)], out)  # a results folder: REPORT.md, plots/ ...
    (out / "runs").mkdir()
    (out / "runs" / "run.json").write_bytes(FIXTURE.read_bytes())
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(out, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert cli.main(["report", str(copy), "--out", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"fwbench: error: {copy} holds no results files (*.json at its top level); its runs/ folder has 1 "
        f"(name {copy / 'runs'})"
    ]
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before  # nothing deleted or rewritten
    # the folder it names works
    assert cli.main(["report", str(copy / "runs"), "--out", str(copy)]) == 0


def test_a_report_of_nothing_is_refused_and_keeps_the_old_one(tmp_path: Path) -> None:
    document.write([results.load(FIXTURE)], tmp_path)
    old = (tmp_path / "REPORT.md").read_text()
    empty = dataclasses.replace(results.load(FIXTURE), results=[])
    with pytest.raises(cli.UsageError, match="no results to report"):
        document.write([empty], tmp_path)
    assert (tmp_path / "REPORT.md").read_text() == old and (tmp_path / "plots" / "step_time.png").exists()


def with_inference(suite: results.Suite, factor: float = 0.1) -> results.Suite:
    """The fixture with every run copied as an inference scenario whose steps take `factor` as long."""
    inference = [
        dataclasses.replace(
            r, scenario="inference", step_ms=[t * factor for t in r.step_ms], median_step_ms=r.median_step_ms * factor
        )
        for r in suite.results
    ]
    return dataclasses.replace(suite, results=[*suite.results, *inference])


def test_scenarios_are_never_mixed() -> None:
    suite = results.load(FIXTURE)
    both = with_inference(suite)
    cs = cells.cells([both])
    # a cell per (scenario, backend), each holding its own scenario's runs only; train first
    assert [(c.scenario, c.backend) for c in cs] == [
        (scenario, r.backend) for scenario in ("train", "inference") for r in suite.results
    ]
    assert all({r.scenario for r in c.runs} == {c.scenario} for c in cs)
    # baselines and ratios stay within a scenario
    by = {(c.scenario, c.backend): c for c in cs}
    for c in cs:
        base = cells.baseline_of(cs, c)
        assert base is not None and (base.scenario, base.backend) == (c.scenario, cells.BASELINE_BACKEND)
    assert ratio(by["inference", "keras"], by["train", "torch-eager"]) is None
    train_ratio = ratio(by["train", "keras"], by["train", "torch-eager"])
    inference_ratio = ratio(by["inference", "keras"], by["inference", "torch-eager"])
    assert train_ratio is not None and inference_ratio is not None
    assert inference_ratio.value == pytest.approx(train_ratio.value)  # both scenarios scaled alike
    verdicts = workload_verdicts(cs)
    assert sorted(v.torch.scenario for v in verdicts) == ["inference", "train"]
    assert all(v.torch.scenario == v.tf.scenario for v in verdicts)
    # the report names the scenario in its sections and summary rows; each row is its own scenario's
    text = document.render([both])
    assert "### mlp-iris (train)\n" in text and "### mlp-iris (inference)\n" in text
    summary = text.split("## Summary: PyTorch vs TensorFlow", 1)[1].split("## Per workload", 1)[0]
    assert "| mlp-iris (train) " in summary and "| mlp-iris (inference) " in summary
    for r in suite.results:
        train_row = headline_row(text, "mlp-iris (train)", r.backend)
        inference_row = headline_row(text, "mlp-iris (inference)", r.backend)
        assert formatting.fmt(r.median_step_ms) in train_row
        assert formatting.fmt(r.median_step_ms * 0.1) in inference_row
        assert train_row.split("|")[6].strip() == inference_row.split("|")[6].strip()  # vs torch-eager, per scenario
    # one scenario alone: not named, whichever it is
    only = dataclasses.replace(both, results=[r for r in both.results if r.scenario == "inference"])
    assert "### mlp-iris\n" in document.render([only])


def test_two_runs_in_one_folder_keep_both_reports_and_all_plots(tmp_path: Path) -> None:
    """Each run's report and plots stay in results/reports/<run-id>/; results/REPORT.md is the latest run,
    its figures linked in that run's folder, and it lists the earlier runs. Nothing of the first is removed."""
    first = results.load(FIXTURE)
    second = dataclasses.replace(first, run_id="29991231T000000Z-second")
    own1, _ = document.write_run(first, tmp_path)
    plots1 = sorted(p.name for p in (own1.parent / "plots").glob("*.png"))
    before = {p: p.read_bytes() for p in own1.parent.rglob("*") if p.is_file()}
    own2, latest = document.write_run(second, tmp_path)
    assert own1 != own2 and own1.parent.parent == own2.parent.parent == tmp_path / "reports"
    assert {p: p.read_bytes() for p in own1.parent.rglob("*") if p.is_file()} == before  # untouched
    assert plots1 and sorted(p.name for p in (own2.parent / "plots").glob("*.png")) == plots1
    text = latest.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all(link.startswith(f"reports/{second.run_id}/plots/") for link in links), links
    assert all((tmp_path / link).is_file() for link in links)
    assert f"- [{first.run_id}](reports/{first.run_id}/REPORT.md)" in text.split("## Earlier runs in this folder")[1]


def test_the_summary_printed_at_the_end_of_a_run_is_the_reports() -> None:
    text = document.render([results.load(FIXTURE)])
    answer = document.summary_text([results.load(FIXTURE)])
    assert answer.startswith("## Summary: PyTorch vs TensorFlow") and "| mlp-iris " in answer
    assert "## Per workload" not in answer and answer in text
    assert document.summary_text([]) == ""


def test_the_terminal_answer_is_one_row_per_workload_within_100_columns() -> None:
    """What `fwbench run` prints: the sentence, one row per workload with faster, sooner and leaner each in short
    with its interval, the legend; every line within 100 columns, no markdown, the Details table left out. On
    every fixed file with both frameworks (training, repeats, inference and export) and the committed example."""
    example = results.load(next((REPO / "results" / "example" / "runs").glob("*.json")))
    files = sorted(DATA.glob("suite-*.json")) + sorted(DATA.glob("compare-*.json"))
    for suite in [example, *(results.load(f) for f in files)]:
        text = document.terminal_text([suite])
        assert all(len(ln) <= 100 for ln in text.splitlines()), [ln for ln in text.splitlines() if len(ln) > 100]
        assert "**" not in text and "| " not in text and "Details:" not in text
    text = document.terminal_text([example])
    rows = {ln.split()[0]: ln for ln in text.splitlines() if ln.split() and ln.split()[0] in example.plan.workloads}
    assert list(rows) == list(example.plan.workloads)
    assert re.fullmatch(
        r"cnn-cifar10 +TF +0\.\d\d \[0\.\d\d, 0\.\d\d\]\* +speed only +\S+ +[-+]\d+ \[.*\]", rows["cnn-cifar10"]
    )
    assert "?: not yet known" in text and document.terminal_text([]) == ""


def test_no_line_of_prose_is_longer_than_100_columns(tmp_path: Path) -> None:
    """Readable outside a renderer: outside tables, every line of the report (summary sentence, legends,
    warnings, notes) fits in 100 columns; the training report and the pytest-benchmark one both."""
    for text in (document.render([results.load(FIXTURE)]), document.render(pbjson.load_all_any(list(PB_FILES)))):
        long = [ln for ln in text.splitlines() if len(ln) > document.PROSE_WIDTH and not ln.startswith("|")]
        assert long == [], long[:3]


def test_no_line_outside_a_table_is_longer_than_200_characters_on_any_fixed_file() -> None:
    """Every results file under tests/data (training, repeats, pytest-benchmark, infer and export): the
    report reads as text, its prose folded and its legends bullets."""
    files = sorted(DATA.glob("suite-*.json")) + sorted(DATA.glob("compare-*.json"))
    renders = [document.render([results.load(f)]) for f in files] + [
        document.render(pbjson.load_all_any(list(PB_FILES)))
    ]
    for text in renders:
        assert [ln for ln in text.splitlines() if len(ln) > 200 and not ln.startswith("|")] == []


def test_the_readme_example_is_the_committed_default_run_rendered_again() -> None:
    """README's example answer is generated: the committed results file of the default run (results/example)
    prints it today (`fwbench run`'s terminal answer), and that run was the default run (group default, the verdict's 3 seeds, no
    workload or backend named)."""
    root = Path(__file__).parent.parent
    (path,) = (root / "results" / "example" / "runs").glob("*.json")
    suite = results.load(path)
    assert suite.plan is not None and suite.plan.seeds == 3 and suite.plan.profile == "quick"
    assert not any(a in suite.command for a in ("--workloads", "--backends", "--seeds"))
    assert suite.plan.backends == backends.group("default", "cpu")
    summary = document.render([suite]).split("## Summary: PyTorch vs TensorFlow\n", 1)[1].split("\n### ", 1)[0]
    assert textwrap.indent(document.terminal_text([suite]), "    ") in (root / "README.md").read_text()
    assert summary.strip() in (root / "results" / "example" / "REPORT.md").read_text()
    answers = re.findall(r"^- \*\*[\w-]+\*\*, .*?(?=\n- |\n\n)", summary, re.S | re.M)
    assert len(answers) == len(suite.plan.workloads) and not any("no verdict" in a for a in answers), answers


def test_the_committed_example_renders_byte_for_byte(tmp_path: Path) -> None:
    """results/example/REPORT.md is what `fwbench report` makes of results/example/runs today: a change of
    layout or wording in the report shows here, and the committed example is regenerated with it."""
    example = REPO / "results" / "example"
    runs = sorted((example / "runs").glob("*.json"))
    out = tmp_path / "example"
    p = fwbench("report", *map(str, runs), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert (out / "REPORT.md").read_text() == (example / "REPORT.md").read_text()


def test_the_margin_is_a_parameter_and_the_report_states_it(tmp_path: Path) -> None:
    """`fwbench report --margin 25%`: the summary's legend states the margin and the ratio band it means;
    the 2026-12-03 default run's 1.00 [0.80, 1.24] on dqn-cartpole becomes "the same" within 25% but is not
    yet known within the default 10%."""
    runs = [str(DATA / "default-run-2026-12-03.json")]  # the 2026-12-03 default run (the example before 2026-12-07)
    assert cli.main(["report", *runs, "--out", str(tmp_path / "wide"), "--margin", "25%"]) == 0
    wide = prose((tmp_path / "wide" / "REPORT.md").read_text())
    assert "within the margin of 25% (a ratio within [0.80, 1.25]" in wide
    assert "- **dqn-cartpole**, torch-eager vs keras: faster **the same** (1.00 [0.80, 1.24])" in wide
    default = prose(document.render([results.load(p) for p in runs]))
    assert "within the margin of 10% (a ratio within [0.91, 1.10]" in default
    assert "- **dqn-cartpole**, torch-eager vs keras: faster **not yet known** (1.00 [0.80, 1.24])" in default
    assert cli.main(["report", *runs, "--out", str(tmp_path / "bad"), "--margin", "1.5"]) == 2
