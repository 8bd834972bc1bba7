"""The decoder workloads (llama-tiny, llama-smollm-base; issue 35): their synthetic token stream, the config
both twins read, the weight rules keras-hub's layers need, generation's bookkeeping and the greedy
comparison, the user cache's bound; and (slow) both libraries' greedy generate on the same weights giving
the same ids. Parity (equal counts, logits, first update; the epsilon mutant) is tests/test_parity.py's,
parametrised over the registry. The test process imports no framework: the slow test runs one subprocess
per framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.analysis.generation import agreement
from bench.core import cache, workloads
from bench.core.datasets import markov
from bench.core.errors import UsageError
from bench.interfaces.decoder_spec import hf_config
from bench.measure import generation
from bench.records.results import Generation
from impls.keras import weights

from .conftest import REPO, fwbench, install_hint

TINY = workloads.get("llama-tiny")


def test_the_token_stream_is_seeded_second_order_and_its_oracle_is_exact() -> None:
    a, b, other = markov.load_lm_markov(0), markov.load_lm_markov(0), markov.load_lm_markov(1)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, other.x_train)
    assert a.describe()["synthetic"] and a.x_train.shape == (2048, 64) and a.x_train.dtype == np.int32
    assert np.array_equal(a.x_train[:, 1:], a.y_train[:, :-1])  # y is x shifted by one
    table = markov.successors(512)
    # every next id (past the first position, whose id two back is not in x) is one of its state's successors
    state = a.x_train[:, 1:] * markov.CONTEXTS + a.x_train[:, :-1] % markov.CONTEXTS
    assert (table[state] == a.y_train[:, 1:, None]).any(axis=-1).all()
    # the most likely successor is taken at SUCCESSOR_P[0]'s rate (0.7), so the oracle's accuracy is what a
    # perfect model gets; a model reading only the current id cannot (the id two back changes the successors)
    best = (table[state][..., 0] == a.y_train[:, 1:]).mean()
    assert abs(best - markov.oracle()["next_token_accuracy"]) < 0.01
    assert TINY.target is not None and TINY.target < best


def test_both_twins_read_one_config_and_a_bad_shape_names_its_values() -> None:
    cfg = hf_config(TINY.model_kwargs)
    assert (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]) == (4, 2, 32)
    assert cfg["rms_norm_eps"] == 1e-5 and cfg["tie_word_embeddings"] is False
    with pytest.raises(ValueError, match="heads 4, and heads by kv_heads 3"):
        hf_config({**TINY.model_kwargs, "kv_heads": 3})
    with pytest.raises(ValueError, match="lack \\['rms_norm_eps'\\]"):
        hf_config({k: v for k, v in TINY.model_kwargs.items() if k != "rms_norm_eps"})


@pytest.mark.parametrize(("shape", "in_dims"), [((8, 2, 3), 1), ((2, 3, 8), 2), ((8, 5), 1)])
def test_the_kernel_rule_round_trips_torch_linears_through_keras_hub_kernel_shapes(shape, in_dims) -> None:
    """q/k/v (in, heads, head_dim), o (heads, head_dim, out) and a plain Dense (in, out): torch (out, in) ->
    keras -> torch is the identity, and the keras kernel is the transposed matrix reshaped (keras-hub's own
    converter's convention)."""
    to_keras, from_keras = weights.RULES["kernel"]
    n_in = int(np.prod(shape[:in_dims]))
    w = np.arange(n_in * int(np.prod(shape[in_dims:])), dtype=np.float32).reshape(-1, n_in)  # torch (out, in)
    extra = {"shape": shape, "in_dims": in_dims}
    (kernel,) = to_keras({"p.weight": w}, "p", extra)
    assert kernel.shape == shape and np.array_equal(kernel.reshape(n_in, -1), w.T)
    assert np.array_equal(from_keras([kernel], "p", extra)["p.weight"], w)


def test_the_reversible_embedding_rule_maps_the_untied_output_layer() -> None:
    to_keras, from_keras = weights.RULES["reversible_embedding"]
    emb, head = np.ones((6, 4), np.float32), np.arange(24, dtype=np.float32).reshape(6, 4)
    extra = {"reverse": "lm_head"}
    ws = to_keras({"e.weight": emb, "lm_head.weight": head}, "e", extra)
    assert ws[1].shape == (4, 6) and np.array_equal(ws[1], head.T)
    assert np.array_equal(from_keras(ws, "e", extra)["lm_head.weight"], head)


def gen(tokens: list[list[int]], margins: list[list[float]]) -> Generation:
    return Generation(batch=len(tokens), prompt_tokens=4, new_tokens=len(tokens[0]), tokens=tokens, margins=margins)


def test_greedy_outputs_compare_equal_or_name_the_first_difference_with_both_margins() -> None:
    a = gen([[1, 2, 3], [4, 5, 6]], [[1.0, 1.0, 1.0], [0.5, 0.01, 2.0]])
    assert agreement(a, a).equal and agreement(a, a).compared == 6
    b = gen([[1, 2, 3], [4, 9, 7]], [[1.0, 1.0, 1.0], [0.5, 0.02, 3.0]])
    d = agreement(a, b)
    assert (d.equal, d.row, d.position, d.ids, d.margins) == (False, 1, 1, (5, 9), (0.01, 0.02))
    assert "row 1, new id 1 (5 vs 9; margins 0.01 / 0.02)" in d.text()
    with pytest.raises(ValueError, match="different protocols"):
        agreement(a, gen([[1, 2]], [[0.0, 0.0]]))


def test_margins_and_the_kv_cache_are_computed_as_documented() -> None:
    logits = np.zeros((1, 4, 5), np.float32)  # prompt 2, 2 new ids: positions 1 and 2 choose them
    logits[0, 1, 3], logits[0, 1, 1] = 2.0, 0.5
    logits[0, 2, 0] = 1.0
    m, agree = generation.margins(logits, np.array([[7, 7, 3, 4]]), prompt=2)
    assert m == [[1.5, 1.0]] and agree == 0.5  # id 3 is position 1's argmax; id 4 is not position 2's
    # 2 (keys, values) x 2 layers x batch 8 x 2 kv heads x 32 dims x 64 positions x 4 bytes
    assert generation.kv_cache_mib(TINY.model_kwargs, 8, 64) == 2 * 2 * 8 * 2 * 32 * 64 * 4 / 2**20


def test_the_user_cache_is_kept_within_its_bound_least_recently_used_first(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    arrays = {"a": np.zeros(4000, np.uint8)}
    first = cache.write_npz("init", {"n": 1}, arrays)
    assert first is not None
    monkeypatch.setenv(cache.MAX_ENV, str(2.5 * first.stat().st_size / 2**20))  # two entries fit, three do not
    second = cache.write_npz("init", {"n": 2}, arrays)
    assert second and first.is_file() and second.is_file()
    os.utime(second, (1, 1))  # the second is now the least recently used ...
    assert cache.read_npz("init", {"n": 1}) is not None  # ... and reading the first marks it used
    third = cache.write_npz("data", {"n": 3}, arrays)
    assert third and third.is_file() and first.is_file() and not second.exists()
    assert cache.command("list") == 0 and "2 entries" in capsys.readouterr().out
    assert cache.command("clear") == 0 and "removed 2 entries" in capsys.readouterr().out
    assert cache.entries() == []
    monkeypatch.setenv(cache.MAX_ENV, "lots")
    with pytest.raises(UsageError, match="FWBENCH_CACHE_MAX_MIB='lots': must be a number of MiB above 0"):
        cache.max_bytes()
    from bench import cli

    assert cli.main(["cache", "list"]) == 2  # any command: one line, exit 2, before anything runs
    assert capsys.readouterr().err == (
        "fwbench: error: FWBENCH_CACHE_MAX_MIB='lots': must be a number of MiB above 0 (default 2048)\n"
    )


# One framework's greedy generate on the shared initial weights (the torch twin's, as --init shared gives every
# backend): the generated ids of the protocol's batch of 8, to OUT.json.
GENERATE_SCRIPT = """
import json, sys
import numpy as np
from bench.core import backends, workloads
from bench.core.spec import BackendOptions
from bench.measure import generation, tasks
from bench.measure.run_support import load_weights
backend_name, init, out = sys.argv[1:]
wl = workloads.get("llama-tiny")
backend = backends.get(backend_name).make(BackendOptions("cpu", 1, 1, 0))
if backend_name == "torch-eager":
    backend.build(wl, None)
    np.savez(init, **backend.get_weights())
else:
    backend.build(wl, load_weights(init))
generate, how = backend.mod.generator(backend.parts, backend_name)
prompts = generation.prompts_of(tasks.make(wl, 0).inference_inputs(), 8)
ids = generate(prompts, 16)
logits = backend.predict(ids.astype(np.int32)).reshape(8, prompts.shape[1] + 16, -1)
m, agree = generation.margins(logits, ids, prompts.shape[1])
json.dump({"ids": ids[:, prompts.shape[1]:].tolist(), "margins": m, "agree": agree, "how": how}, open(out, "w"))
"""


def generate_in(backend: str, init: Path, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", GENERATE_SCRIPT, backend, str(init), str(out)],
        cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.keras
def test_transformers_and_keras_hub_generate_the_same_greedy_ids_from_the_same_weights(tmp_path) -> None:
    """transformers' generate (dynamic KV cache) and keras-hub's (its cache, TensorFlow) on the same initial
    weights, loaded into keras-hub by its own converter with the epsilon set: the same 8 x 16 greedy ids, each
    the argmax of the framework's own forward on the generated sequence."""
    hint = install_hint("torch-eager", "keras")
    if hint or TINY.missing_packages():
        pytest.skip(hint or f"llama-tiny needs {', '.join(TINY.missing_packages())}: pip install -e '.[llm]'")
    init = tmp_path / "init.npz"
    torch_side = generate_in("torch-eager", init, tmp_path / "torch.json")
    keras_side = generate_in("keras", init, tmp_path / "keras.json")
    assert "transformers" in torch_side["how"] and "keras-hub" in keras_side["how"]
    assert torch_side["agree"] == keras_side["agree"] == 1.0
    a, b = (gen(s["ids"], s["margins"]) for s in (torch_side, keras_side))
    assert agreement(a, b).equal, agreement(a, b).text()


def test_fwbench_cache_lists_and_clears_the_folder_it_names(tmp_path) -> None:
    env = {cache.CACHE_ENV: str(tmp_path)}
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "abc.npz").write_bytes(b"x" * 2048)
    listed = fwbench("cache", "list", env=env, timeout=60)
    assert listed.returncode == 0 and "1 entries" in listed.stdout and "abc.npz" in listed.stdout, listed
    cleared = fwbench("cache", "clear", env=env, timeout=60)
    assert cleared.returncode == 0 and "removed 1 entries" in cleared.stdout and not any(tmp_path.glob("*/*"))
    bad = fwbench("cache", "purge", env=env, timeout=60)
    assert bad.returncode != 0 and "'purge'" in bad.stderr and "list" in bad.stderr


def test_a_named_decoder_without_its_packages_is_refused_before_any_run(monkeypatch) -> None:
    import dataclasses

    from bench.core.errors import UsageError
    from bench.planning import preflight

    from .conftest import small_plan

    lacking = dataclasses.replace(TINY, packages=("transformers", "no_such_package_here"))
    monkeypatch.setitem(workloads.WORKLOADS, "llama-tiny", lacking)
    with pytest.raises(
        UsageError, match=r"'llama-tiny' needs no_such_package_here, not installed \(pip install -e '\.\[llm\]'"
    ):
        preflight.check_runs_here(small_plan(workloads=("llama-tiny",)))


def test_generation_figures_get_the_verdict_rule_of_every_workload() -> None:
    from bench.analysis import verdicts
    from bench.analysis.generation import GenerationCell, versus

    def cell(backend: str, decode: tuple[float, ...], contended: int = 0) -> GenerationCell:
        g = gen([[1]], [[1.0]])
        return GenerationCell("llama-tiny", backend, 1, len(decode), "", 1.0, decode[0], 1.0, 0.1, g,
                              decode, decode, contended)  # fmt: skip

    fast, slow = cell("keras", (0.20, 0.21, 0.205)), cell("torch-eager", (0.44, 0.45, 0.43))
    r = versus(fast, slow, "decode")
    assert r is not None and r.answer == verdicts.FASTER_A and r.high < 1
    assert versus(cell("keras", (0.2,)), slow, "decode").answer == verdicts.NO_VERDICT  # type: ignore[union-attr]
    assert versus(cell("keras", (0.20, 0.21, 0.205), contended=1), slow, "ttft").answer == verdicts.NO_VERDICT  # type: ignore[union-attr]
