"""The infer and export scenarios' framework-neutral parts (bench/scenarios/infer.py, bench/scenarios/export.py,
bench/measure/prediction.py, bench/report/deployment.py): latency statistics, a failing or truncated export
recorded with the suite going on, and the Deployment section on a fixed results file. The real export paths are
in tests/test_export_torch.py and tests/test_export_keras.py; the end-to-end run through the CLI is at the end
(slow)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.core import stats
from bench.core.spec import RunConfig
from bench.interfaces.export_spec import ExportPath, Predict
from bench.measure import prediction
from bench.records import results
from bench.report import document
from bench.scenarios.export import export_one
from bench.scenarios.infer import max_batch

from .conftest import fwbench, prose

DATA = Path(__file__).parent / "data"


def test_latency_percentiles_of_known_samples() -> None:
    samples = list(np.random.default_rng(0).permutation(np.arange(1.0, 1001.0)))  # 1 .. 1000 ms, shuffled
    p = stats.percentiles(samples)
    assert p["p50_ms"] == pytest.approx(500.5)
    assert p["p90_ms"] == pytest.approx(900.1)
    assert p["p99_ms"] == pytest.approx(990.01)
    assert p["mean_ms"] == pytest.approx(500.5)
    low, high = p["ci95_p50_ms"]
    assert low < 500.5 < high and high - low < 100  # the median of 1000 uniform draws is known to ~ +-30


def test_latency_of_a_predict_counts_every_call_after_the_warm_up() -> None:
    calls: list[int] = []

    def predict(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x.astype(np.float32)

    lat = prediction.latency(predict, np.ones((10, 3)), calls=50, seed=0)
    assert lat.calls == 50 and len(lat.samples_ms) == 50 and lat.batch == 1
    assert len(calls) == prediction.WARMUP_CALLS + 50 and set(calls) == {1}
    assert lat.p50_ms is not None and lat.p50_ms <= lat.p99_ms


class Graded:
    """A task stand-in: grades a predict by the accuracy of argmax against fixed labels."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def evaluate(self, backend: Any) -> dict[str, float]:
        return {"accuracy": float(np.mean(backend.predict(self.x).argmax(axis=1) == self.y))}


def weights_file(w: np.ndarray) -> tuple[Any, Any]:
    """A real (tiny) export path: a linear model written as .npy, loaded back, with its length checked as
    every real loader does."""

    def export(folder: Path, sample: np.ndarray) -> Path:
        path = folder / "model.npy"
        np.save(path, w)
        return path

    def load(path: Path) -> Predict:
        loaded = np.load(path, allow_pickle=False)
        return lambda x: (x @ loaded).astype(np.float32)

    return export, load


def run_paths(paths: list[ExportPath], tmp_path: Path, fault: str | None = None) -> list[results.Deployment]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    y = (x @ w).argmax(axis=1)
    task = Graded(x, y)
    ref = prediction.Reference(x, (x @ w).astype(np.float32), 1.0, "accuracy")
    cfg = RunConfig("r", "mlp-iris", "torch-eager", "cpu", "quick", 0, 0, "native", None, 1, 1, False, fault=fault)
    out = []
    for p in paths:
        out.append(export_one(p, tmp_path / p.name, ref, task, 30, "torch", cfg))  # type: ignore[arg-type]
    return out


def working_path(name: str, w: np.ndarray | None = None) -> ExportPath:
    export, load = weights_file(w if w is not None else np.random.default_rng(1).standard_normal((4, 3)))
    return ExportPath(name, "npy", "numpy", export, load)


def test_a_failing_exporter_is_recorded_and_the_next_path_goes_on(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rng.standard_normal((40, 4))
    w = rng.standard_normal((4, 3)).astype(np.float32)

    def broken(folder: Path, sample: np.ndarray) -> Path:
        raise RuntimeError("exporter crashed on op aten::foo\nlong traceback text")

    def cannot(folder: Path, sample: np.ndarray) -> Path:
        raise NotImplementedError("no converter for LSTM here")

    export, load = weights_file(w)
    paths = [
        ExportPath("torchscript", "broken", "x", broken, load),
        ExportPath("torch-export", "cannot", "x", cannot, load),
        ExportPath("onnx-torch", "works", "numpy", export, load),
    ]
    got = run_paths(paths, tmp_path)
    assert [d.status for d in got] == ["failed", "unsupported", "ok"]
    assert got[0].reason == "export: RuntimeError: exporter crashed on op aten::foo"  # one line, the stage named
    assert got[1].reason == "export: NotImplementedError: no converter for LSTM here"
    ok = got[2]
    assert ok.max_abs_diff == pytest.approx(0.0, abs=1e-6) and ok.metric == 1.0 and ok.native_metric == 1.0
    assert ok.latency.calls == 30 and ok.size_mib and ok.export_s is not None and ok.load_s is not None
    assert set(ok.throughput_samples_s) == {"64"}


def test_a_truncated_artifact_fails_at_load_and_the_cell_says_so(tmp_path: Path) -> None:
    got = run_paths([working_path("onnx-torch"), working_path("torchscript")], tmp_path, fault="truncate-artifact")
    assert [d.status for d in got] == ["failed", "failed"]
    assert all(d.reason.startswith("load: ValueError") for d in got), [d.reason for d in got]
    assert all(d.size_mib and d.export_s is not None for d in got)  # what was measured before the failure stays


def test_a_runtime_whose_outputs_differ_is_measured_not_hidden(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rng.standard_normal((40, 4))
    w = rng.standard_normal((4, 3)).astype(np.float32)
    (got,) = run_paths([working_path("onnx-torch", w + 0.01)], tmp_path)
    assert got.status == "ok" and got.max_abs_diff is not None and got.max_abs_diff > 1e-3


# The Deployment section on a fixed results file: the mlp-iris fixture's runs, turned into infer and
# export runs with known latencies.


def deployment(runtime: str, p50: float, framework: str, status: str = "ok", reason: str = "") -> results.Deployment:
    samples = [p50 * f for f in np.linspace(0.9, 1.1, 101)] if status == "ok" else []
    return results.Deployment(
        runtime=runtime,
        status=status,
        reason=reason,
        framework=framework,
        max_abs_diff=2e-7 if status == "ok" else None,
        metric=0.96 if status == "ok" else None,
        native_metric=0.96,
        latency=results.Latency(calls=len(samples), samples_ms=samples, **stats.percentiles(samples)),
        throughput_samples_s={"64": 64 / p50 * 1e3} if status == "ok" else {},
        size_mib=0.01 if status == "ok" else None,
        export_s=0.5,
        load_s=0.1 if status == "ok" else None,
    )


def deploy_suite() -> results.Suite:
    suite = results.load(DATA / "suite-mlp-iris.json")
    torch_run = next(r for r in suite.results if r.backend == "torch-eager")
    keras_run = next(r for r in suite.results if r.backend == "keras")
    runs = [
        dataclasses.replace(torch_run, scenario="infer", deployment=[deployment("torch-eager", 0.1, "torch")]),
        dataclasses.replace(keras_run, scenario="infer", deployment=[deployment("keras", 0.4, "tensorflow")]),
        dataclasses.replace(
            torch_run,
            scenario="export",
            deployment=[
                deployment("torchscript", 0.08, "torch"),
                deployment("onnx-torch", 0.02, "torch"),
                deployment("torch-export", 0.0, "torch", "failed", "load: RuntimeError: bad archive"),
            ],
        ),
        dataclasses.replace(
            keras_run,
            scenario="export",
            deployment=[deployment("savedmodel", 0.3, "tensorflow"), deployment("onnx-tf", 0.04, "tensorflow")],
        ),
    ]
    quiet = [dataclasses.replace(r, cpu={**r.cpu, "contended": False}) for r in runs]  # as the scenarios record it
    return dataclasses.replace(suite, results=[*suite.results, *quiet])


def test_the_deployment_section_shows_every_runtime_with_its_status_and_the_onnx_ratio(tmp_path: Path) -> None:
    text = document.write([deploy_suite()], tmp_path).read_text()
    section = text.split("## Deployment: inference and exported models", 1)[1].split("\n## ", 1)[0]
    for runtime in ("torch-eager (own path)", "keras (own path)", "torchscript", "onnx-torch", "savedmodel", "onnx-tf"):
        assert f"| {runtime} " in section, runtime
    row = next(ln for ln in section.splitlines() if "| torch-export " in ln)
    assert "failed: load: RuntimeError: bad archive" in row
    # The same ONNX Runtime: TF's file at 0.04 ms against PyTorch's at 0.02 ms, every call twice as long.
    ratio = re.search(r"onnx-tf / onnx-torch batch-1 p50 in one ONNX Runtime: ([\d.]+) \[([\d.]+), ([\d.]+)\]", section)
    assert ratio is not None and float(ratio[1]) == pytest.approx(2.0, abs=0.005)
    assert 1.0 < float(ratio[2]) <= 2.0 <= float(ratio[3]) < 2.2
    assert ": no verdict (1 run: a verdict needs 3 processes per side)" in prose(section)  # one run: no side named
    # The seed table's deployment row, from the same numbers; the old "not measured" sentence is gone.
    assert "| mlp-iris " in text.split("**Deployment** (seed:", 1)[1].split("\n\n", 2)[1]
    assert "not measured by this benchmark" not in text.split("## The seed's", 1)[1].split("research popularity")[0]
    assert (tmp_path / "plots" / "latency.png").read_bytes()[:4] == b"\x89PNG"
    # The training tables are not polluted by the deployment runs.
    assert "mlp-iris (infer)" not in text.split("## Deployment", 1)[0]


def test_the_onnx_verdict_needs_three_runs_a_side(tmp_path: Path) -> None:
    suite = deploy_suite()
    exports = [r for r in suite.results if r.scenario == "export"]
    again = [dataclasses.replace(r, repeat=k) for k in (1, 2) for r in exports]
    text = document.render([dataclasses.replace(suite, results=[*suite.results, *again])])
    expected = "onnx-tf / onnx-torch batch-1 p50 in one ONNX Runtime: 2.00 [2.00, 2.00]*: PyTorch's file faster"
    assert expected in prose(text)


def test_compare_covers_inference_latency(tmp_path: Path) -> None:
    base = deploy_suite()
    slower = dataclasses.replace(
        base,
        run_id="slower",
        results=[
            dataclasses.replace(r, step_ms=[t * 2 for t in r.step_ms], median_step_ms=(r.median_step_ms or 0) * 2)
            if r.scenario == "infer"
            else r
            for r in base.results
        ],
    )
    # the baseline with quiet repeats of its own: one run of the current side is judged against that spread
    repeats = (1.0, 1.02, 0.98, 1.01, 0.99)
    rep = dataclasses.replace(
        base,
        results=[
            dataclasses.replace(
                r, repeat=i, step_ms=[t * f for t in r.step_ms], median_step_ms=(r.median_step_ms or 0) * f
            )
            for i, f in enumerate(repeats)
            for r in base.results
        ],
    )
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(rep.to_dict()))
    b.write_text(json.dumps(slower.to_dict()))
    done = fwbench("compare", str(a), str(b), "--all")
    assert done.returncode == 1, done.stdout + done.stderr  # every inference call twice as long: a regression
    rows = [ln for ln in done.stdout.splitlines() if "batch-1 latency p50" in ln and ln.startswith("|")]
    infer = [ln for ln in rows if "mlp-iris (infer)" in ln]
    assert len(infer) == 2 and all("REGRESSION" in ln and "+100.0%" in ln for ln in infer), rows
    export = {
        rt: ln for ln in rows if "mlp-iris (export)" in ln for rt in ("onnx-torch", "onnx-tf") if f"| {rt} " in ln
    }
    assert set(export) == {"onnx-torch", "onnx-tf"} and all("unchanged" in ln for ln in export.values())
    assert any("samples/s at batch 64" in ln and "| onnx-tf " in ln for ln in done.stdout.splitlines())


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.keras
def test_infer_and_export_through_the_cli_with_a_truncated_torch_artifact(tmp_path: Path) -> None:
    """The user's command, end to end, on mlp-iris: each backend's own path and every export path; the torch
    export's artifacts are cut in half between export and load (fault hook): each of its runtimes is a
    failed cell with a one-line reason, and TensorFlow's runtimes go on and match their own predict."""
    keep = tmp_path / "kept"
    scratch = tmp_path / "tmp"  # the runs' temporary folders: empty again after the suite
    scratch.mkdir()
    done = fwbench(
        "run", "--scenario", "infer", "export", "--workloads", "mlp-iris", "--backends", "torch-eager", "torchscript",
        "keras",
        "--epochs", "3", "--threads", "1", "--seeds", "1", "--out", str(tmp_path), "--keep-artifacts", str(keep),
        env={"FWBENCH_FAULT": "mlp-iris/torch-eager=truncate-artifact", "TMPDIR": str(scratch)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    suite = results.load(next((tmp_path / "runs").glob("*.json")))
    by = {(r.scenario, r.backend): r for r in suite.results}
    assert by["export", "torchscript"].status == "unsupported"  # one exporting backend per framework
    assert "export scenario runs from torch-eager, keras" in by["export", "torchscript"].reason
    assert {r.status for r in suite.results if r.backend != "torchscript" or r.scenario == "infer"} == {"ok"}
    for backend in ("torch-eager", "torchscript", "keras"):  # torchscript: a scripted module trained, then served
        (own,) = by["infer", backend].deployment
        assert own.max_abs_diff is not None and own.max_abs_diff < 1e-4 and own.metric == own.native_metric
        assert set(own.throughput_samples_s) >= {"1", "8", "64"} and own.latency.calls > 0
    torch_export = by["export", "torch-eager"].deployment
    assert [d.runtime for d in torch_export] == ["torchscript", "torch-export", "onnx-torch", "onnx-torch-int8"]
    assert all(d.status in ("failed", "unsupported") and "\n" not in d.reason for d in torch_export)
    assert all(d.reason.split(":")[0] in ("load", "run") for d in torch_export if d.status == "failed")
    for d in by["export", "keras"].deployment:
        assert d.status == "ok", (d.runtime, d.reason)
        if not d.quantized:
            assert d.max_abs_diff < 1e-4 and d.metric == d.native_metric, d.runtime
    text = (tmp_path / "REPORT.md").read_text()
    assert "## Deployment: inference and exported models" in text
    # Artifacts: kept where asked, none left in the temporary folder.
    assert any(keep.rglob("*.onnx")) and any(keep.rglob("*.tflite"))
    assert not [
        p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("fwbench-export-*") if p.stat().st_uid == os.getuid()
    ]


def test_pytest_benchmark_inference_entries_render_in_the_deployment_section(tmp_path: Path) -> None:
    """tests/benchmarks/test_inference.py's JSON: each call a batch-1 latency sample of its runtime."""

    def entry(name: str, scenario: str, backend: str, runtime: str | None, seconds: float) -> dict[str, Any]:
        data = [seconds * f for f in np.linspace(0.9, 1.1, 51)]
        extra = {"scenario": scenario, "backend": backend, "framework": "torch", "workload": "mlp-iris"}
        return {
            "name": name,
            "fullname": f"tests/benchmarks/test_inference.py::{name}",
            "params": {},
            "extra_info": {**extra, **({"runtime": runtime} if runtime else {})},
            "stats": {"median": float(np.median(data)), "mean": float(np.mean(data)), "rounds": 51, "data": data},
        }

    doc = {
        "machine_info": {"python_version": "3.11", "cpu": {"brand_raw": "test CPU", "count": 2}},
        "datetime": "2026-12-02T12:00:00+00:00",
        "benchmarks": [
            entry("test_infer_batch1[mlp-iris-torch-eager]", "infer", "torch-eager", None, 60e-6),
            entry("test_export_batch1[mlp-iris-onnx-torch]", "export", "torch-eager", "onnx-torch", 15e-6),
        ],
    }
    path = tmp_path / "pb.json"
    path.write_text(json.dumps(doc))
    done = fwbench("report", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    section = (tmp_path / "out" / "REPORT.md").read_text().split("## Deployment", 1)[1].split("\n## ", 1)[0]
    own = next(ln for ln in section.splitlines() if "| torch-eager (own path)" in ln)
    onnx = next(ln for ln in section.splitlines() if "| onnx-torch " in ln)
    assert "| 0.06 [" in own and "| 0.015 [" in onnx  # p50 ms of the recorded calls


def test_the_largest_batch_search_stops_at_the_devices_out_of_memory_error(monkeypatch) -> None:
    # where the search stops does not depend on how long each batch is timed: time each briefly
    monkeypatch.setattr(prediction, "THROUGHPUT_MIN_S", 0.01)

    class OutOfMemoryError(RuntimeError):  # as torch.cuda's
        pass

    def predict(x: np.ndarray) -> np.ndarray:
        if len(x) > 256:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x.astype(np.float32)

    batch, rate, why = max_batch(predict, np.ones((10, 3)), 4096, lambda: 0.0, 64)
    assert batch == 256 and rate is not None and rate > 0
    assert why == "batch 512: OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"

    def broken(x: np.ndarray) -> np.ndarray:
        raise ValueError("a bug, not memory")

    with pytest.raises(ValueError, match="a bug"):
        max_batch(broken, np.ones((10, 3)), 4096, lambda: 0.0, 64)


# An inference/export-only run: a real suite (mlp-iris and cnn-digits, torch-eager and keras, --scenario
# infer export --seeds 3, one thread, on an AMD EPYC with avx512_vnni), kept as it was written.
INFER_EXPORT = DATA / "suite-infer-export.json"
NO_VNNI = ["sse4_2", "avx", "avx2", "fma", "f16c"]  # an AVX2 CPU without VNNI or AMX


def sections(text: str) -> dict[str, str]:
    """Each '## ' section's text after its heading (up to the next '## ')."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def workload_part(section: str, workload: str) -> str:
    return section.split(f"### {workload}\n", 1)[1].split("\n### ", 1)[0]


def test_a_deployment_run_of_unknown_contention_gets_no_verdict() -> None:
    # suite-infer-export.json was written before the infer and export scenarios recorded their CPU window
    summary = prose(document.summary_text([results.load(INFER_EXPORT)]))
    assert summary.count("no verdict (6 runs of unknown contention)") == 2, summary


def test_an_infer_export_only_report_opens_with_its_summary_and_has_no_empty_section(tmp_path: Path) -> None:
    old = results.load(INFER_EXPORT)  # quiet, as the scenarios now record it: a verdict is allowed
    suite = dataclasses.replace(old, results=[dataclasses.replace(r, cpu={"contended": False}) for r in old.results])
    text = document.write([suite], tmp_path).read_text()
    headings = [ln for ln in text.splitlines() if ln.startswith("## ")]
    assert headings[0] == "## Summary: PyTorch vs TensorFlow", headings
    lines = text.splitlines()
    for i, ln in enumerate(lines):  # every heading is followed by content or its subsections, never by nothing
        if ln.startswith("#"):
            level = len(ln) - len(ln.lstrip("#"))
            following = next((x for x in lines[i + 1 :] if x.strip()), "")
            assert following, ln
            assert len(following) - len(following.lstrip("#")) in (0, *range(level + 1, 7)), (ln, following)
    assert "## Per workload" not in text and "**Execution mode**" not in text
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["latency.png"]  # no training plots
    # The fastest float runtime of each framework, from the file's own calls; 3 runs a side: a verdict.
    summary = sections(text)["Summary: PyTorch vs TensorFlow"]
    for workload in ("mlp-iris", "cnn-digits"):
        fastest = {}
        for fw in ("torch", "tensorflow"):
            pooled: dict[str, list[float]] = {}
            for r in suite.results:
                if r.workload == workload:
                    for d in r.deployment:
                        if d.framework == fw and d.status == "ok" and not d.quantized:
                            label = d.runtime if r.scenario == "export" else f"{d.runtime} (own path)"
                            pooled.setdefault(label, []).extend(d.latency.samples_ms)
            fastest[fw] = min(pooled, key=lambda k: float(np.median(pooled[k])))
        bullet = re.search(rf"^- {workload}: (.+?)(?=^- |^$)", summary, flags=re.M | re.S)
        assert bullet is not None, summary
        one = prose(bullet[1]).replace("\n", " ")
        assert f"PyTorch {fastest['torch']} " in one and f"TensorFlow {fastest['tensorflow']} " in one, one
        assert re.search(
            r"TF / PT [\d.]+ \[[\d.]+, [\d.]+\]\*?: (PyTorch faster|TensorFlow faster|the same within|not yet known)",
            one,
        )
    assert all(len(ln) <= document.PROSE_WIDTH for ln in summary.splitlines())


def test_with_one_run_a_side_the_inference_summary_gives_no_verdict_and_the_runs_needed() -> None:
    suite = results.load(INFER_EXPORT)
    one = dataclasses.replace(suite, results=[r for r in suite.results if r.seed == 0])
    summary = prose(document.summary_text([one]))
    assert summary.count(": no verdict (1 run: a verdict needs 3 processes per side)") == 2, summary
    assert "no verdict in 2 (too few runs or contended)" in summary


def test_int8_notes_say_when_nothing_was_quantised_and_why_int8_is_slower() -> None:
    suite = results.load(INFER_EXPORT)
    text = prose(document.render([suite]))
    deployment = sections(text)["Deployment: inference and exported models"]
    iris, digits = workload_part(deployment, "mlp-iris"), workload_part(deployment, "cnn-digits")
    # TF Lite leaves mlp-iris's small weights in float32: tflite-int8 is the same file; cnn-digits' is not.
    assert "tflite-int8 is tflite: nothing was quantised (the same size" in iris
    assert "nothing was quantised" not in digits
    # ONNX int8 is slower than fp32 on cnn-digits here; this CPU has VNNI, so the reason is the overhead.
    assert "onnx-torch-int8 is slower than onnx-torch" in digits
    assert "this CPU has avx512_vnni, yet dynamic quantisation" in digits
    # The same file as if recorded on an AVX2 CPU without VNNI or AMX: the note names the missing instructions.
    avx2 = dataclasses.replace(suite, environment={**suite.environment, "cpu_isa": NO_VNNI})
    digits = workload_part(
        sections(prose(document.render([avx2])))["Deployment: inference and exported models"], "cnn-digits"
    )
    assert "onnx-torch-int8 is slower than onnx-torch" in digits and "this CPU has no VNNI or AMX" in digits
    # Neither note where int8 files are smaller and faster, or where there are none.
    plain = document.render([deploy_suite()])
    assert "nothing was quantised" not in plain and "is slower than" not in plain
    torch_run = next(r for r in suite.results if r.scenario == "export" and r.backend == "torch-eager")
    faster = [dataclasses.replace(deployment_of("onnx-torch-int8", 0.01), size_mib=0.003, max_abs_diff=0.04)]
    quick = dataclasses.replace(torch_run, deployment=[deployment_of("onnx-torch", 0.02), *faster])
    text = document.render([dataclasses.replace(suite, results=[quick])])
    assert "nothing was quantised" not in text and "is slower than" not in text


def deployment_of(runtime: str, p50: float) -> results.Deployment:
    return dataclasses.replace(deployment(runtime, p50, "torch"), quantized=runtime.endswith("int8"))


def test_no_line_of_an_infer_export_report_outside_tables_is_longer_than_200_characters() -> None:
    for suite in (results.load(INFER_EXPORT), deploy_suite()):
        text = document.render([suite])
        assert [ln for ln in text.splitlines() if len(ln) > 200 and not ln.startswith("|")] == []
    summary = document.summary_text([results.load(INFER_EXPORT)])
    assert summary and all(len(ln) <= document.PROSE_WIDTH for ln in summary.splitlines())  # tables included


def test_the_latency_plot_gives_every_runtime_its_own_colour() -> None:
    from bench.report import deployment, plots

    panels = deployment.latency_panels([results.load(INFER_EXPORT)])
    names = [name for p in panels for name, _ in p.boxes]
    assert "keras (own path)" in names and "savedmodel" in names  # once drawn in the same orange
    fig = plots.boxes_figure(panels, "latency")
    for ax in fig.axes[: len(panels)]:
        faces = [tuple(patch.get_facecolor()) for patch in ax.patches]
        assert len(faces) == len(set(faces)) == len(panels[0].boxes)
    chosen = plots.distinct_colors(names)
    assert len(set(chosen.values())) == len(set(names))
