"""An independent generation loop, outside the harness: transformers' and keras-hub's own `generate` called
directly on the same weights, timed with time.perf_counter, to check the harness's generation figures
(docs/METHODOLOGY.md, "Decoder language models"). Nothing from bench/ is imported.

    python docs/measurements/generation_loop.py torch FOLDER OUT.json   # saves llama-tiny's weights to FOLDER
    python docs/measurements/generation_loop.py keras FOLDER OUT.json   # loads them with keras-hub's converter
    python docs/measurements/generation_loop.py compare RESULTS.json TORCH.json KERAS.json  # beside the harness's

One framework per process, one thread each (as the harness's worker on this machine). The model is
llama-tiny's shape (random weights, torch seed 0: decode time does not depend on the values); the prompt is
32 ids, 32 new ids, greedy, batch 1 and 8; per batch one untimed call of each kind, then 10 alternating
timed calls of 1 and 32 new ids; time per output token = (median 32-id call - median 1-id call) / 31.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

CONFIG = {  # llama-tiny (bench/core/workloads.py), as transformers' config.json holds it
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 512, "hidden_size": 128,
    "intermediate_size": 352, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 32, "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}, "hidden_act": "silu",
    # no end token (the harness's config has none): with LlamaConfig's default eos id 2, generate would add a
    # min-new-tokens logits processor and an end-token check to every step (seen: +0.1 ms a token here)
    "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,
}  # fmt: skip
PROMPT, NEW, REPEATS, BATCHES = 32, 32, 10, (1, 8)


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def measure(generate) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    figures = {}
    for b in BATCHES:
        prompt = rng.integers(0, CONFIG["vocab_size"], (b, PROMPT)).astype(np.int32)
        generate(prompt, 1)
        generate(prompt, NEW)
        first, whole = [], []
        for _ in range(REPEATS):
            first += timed(lambda: generate(prompt, 1), 1)  # noqa: B023
            whole += timed(lambda: generate(prompt, NEW), 1)  # noqa: B023
        ttft, total = float(np.median(first)), float(np.median(whole))
        figures[str(b)] = {
            "ttft_ms": ttft,
            "decode_ms_per_token": (total - ttft) / (NEW - 1),
            "tokens_s": b * NEW / (total / 1e3),
        }
    return figures


def torch_side(folder: str) -> tuple[dict, str]:
    import torch
    import transformers

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**CONFIG)).eval()
    model.save_pretrained(folder)

    def generate(prompt: np.ndarray, new: int) -> np.ndarray:
        with torch.inference_mode():
            ids = torch.from_numpy(prompt.astype(np.int64))
            return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                                  min_new_tokens=new, do_sample=False, pad_token_id=0).numpy()  # fmt: skip

    return measure(generate), f"transformers {transformers.__version__}"


def keras_side(folder: str) -> tuple[dict, str]:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras_hub

    backbone = keras_hub.models.Llama3Backbone.from_preset(folder, layer_norm_epsilon=CONFIG["rms_norm_eps"])
    lm = keras_hub.models.Llama3CausalLM(backbone=backbone, preprocessor=None)
    lm.compile(sampler="greedy", jit_compile=False)

    def generate(prompt: np.ndarray, new: int) -> np.ndarray:
        ids = np.zeros((len(prompt), PROMPT + new), np.int32)
        ids[:, :PROMPT] = prompt
        return lm.generate({"token_ids": ids, "padding_mask": ids * 0 + (np.arange(PROMPT + new) < PROMPT)},
                           stop_token_ids=None)["token_ids"]  # fmt: skip

    return measure(generate), f"keras-hub {keras_hub.__version__} on tensorflow {tf.__version__}"


def compare(results_file: str, torch_file: str, keras_file: str) -> None:
    """The harness's generation figures (an infer run's `generation` records: medians over its runs) beside this
    loop's, per backend and batch, with harness / loop."""
    doc = json.load(open(results_file))
    loops = {"torch-eager": json.load(open(torch_file)), "keras": json.load(open(keras_file))}
    print(f"{'backend':12} {'batch':>5} {'figure':>20} {'harness':>10} {'loop':>10} {'harness/loop':>13}")
    for backend, loop in loops.items():
        runs = [r for r in doc["results"] if r["backend"] == backend and r["status"] == "ok" and r.get("generation")]
        for b in BATCHES:
            gens = [g for r in runs for g in r["generation"] if g["batch"] == b]
            for figure in ("ttft_ms", "decode_ms_per_token", "tokens_s"):
                key = {"ttft_ms": "ttft_p50_ms"}.get(figure, figure)
                harness = float(np.median([g[key] for g in gens]))
                mine = loop["figures"][str(b)][figure]
                print(f"{backend:12} {b:5} {figure:>20} {harness:10.3f} {mine:10.3f} {harness / mine:13.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        compare(*sys.argv[2:5])
        sys.exit(0)
    side, folder, out = sys.argv[1:4]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    figures, library = torch_side(folder) if side == "torch" else keras_side(folder)
    with open(out, "w") as f:
        json.dump({"library": library, "threads": 1, "figures": figures}, f, indent=1)
    print(json.dumps({"library": library, "figures": figures}, indent=1))
