"""The two input pipelines of the pipeline scenario (impls/torch/pipeline.py: DataLoader; impls/keras/pipeline.py:
tf.data) over 200 image files, each framework run once in its own process by tests/pipeline_probe.py (the two
side by side): this process imports neither torch nor tensorflow.

- each file exactly once per epoch, in the order `shuffled(n, seed, epoch)`: the same in both frameworks, for
  the default setting and a tuned one (DataLoader workers=2; tf.data autotune+cache), over 2 epochs;
- the same batches whatever the parallelism, and the same in both frameworks, row for row (both take the
  epoch's plan, bench.interfaces.pipeline_spec.epoch_plan: the order and each file's crop and flip);
- decoding: PNG rows equal the source images; JPEG rows (of smoothed images) within JPEG_MEAN_ABS_TOL of them,
  and the same in both frameworks; normalisation;
- augmentation: every augmented row is the source image zero-padded by PAD_PX, cropped and maybe flipped (found
  exactly: PNG is lossless and no op interpolates), at the plan's offsets and flips, with flip rate and crop
  offsets distributed as specified, and per-channel means that agree across the frameworks;
- faults: a DataLoader worker killed mid-epoch raises PipelineError naming it, within seconds; num_workers=0
  raises instead of killing the main process; tf.data with a corrupt file raises PipelineError naming the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from bench.core.datasets.cifar10 import synthetic_images
from bench.interfaces.pipeline_spec import FAULT_INDEX, FLIP_P, PAD_PX, ImageFiles, epoch_plan, shuffled, write_images
from tests.conftest import REPO, install_hint

pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
    pytest.mark.keras,
    pytest.mark.skipif(bool(install_hint("torch-eager", "keras")), reason=str(install_hint("torch-eager", "keras"))),
]

N = 200  # images, 10 classes
SEED = 3
EPOCHS = [0, 1]
SPEC = {"batch_size": 32, "seed": SEED, "mean": [0.4, 0.45, 0.5], "std": [0.2, 0.25, 0.3]}  # 200 = 6 * 32 + 8
RAW = {"augment": False, "normalize": False, "shuffle": False}
TUNED = {"torch": "workers=2", "keras": "autotune+cache"}
FRAMEWORKS = ("torch", "keras")
# JPEG (quality 95, 4:2:0 chroma) is lossy: on synthetic_images' pixel noise (sd 38 levels) it loses 22 levels
# on average, so the JPEG files hold the images smoothed (Gaussian, JPEG_SMOOTH_PX), which lose about 1.6.
JPEG_SMOOTH_PX = 2.0
JPEG_MEAN_ABS_TOL = 3.0  # 0..255 pixel levels: mean |decoded - smoothed source|
JPEG_FRAMEWORKS_TOL = 0.5  # PIL and tf.io.decode_jpeg (libjpeg-turbo, accurate IDCT): mean |torch - tf|, 0 here
FLIP_TOL = 0.1  # 400 rows per framework: the flip rate's sd is 0.025
OFFSET_SHARE_TOL = 0.06  # 800 offsets (rows and columns) per framework: each of 9 values' share has sd 0.011
# Simulated with uniform offsets on these images: the frameworks' difference is below these 99.9% of the time.
PAD_DISTANCE_TOL = 0.3  # px: mean |offset - PAD_PX| is 20/9 px; the difference's 99.9% quantile is 0.2 px
CHANNEL_MEAN_TOL = 2.0  # 0..255: the crop's zero share moves a row's mean; the difference's 99.9% quantile is 1.3
DEAD_WORKER_S = 10.0  # a dead worker is reported within this (DataLoader's SIGCHLD handler: at once)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The images (uint8, structured: gratings, a blob, noise) written as PNG files, and smoothed as JPEG files."""
    x, y = synthetic_images(N, np.random.default_rng([0, 0]))
    x = (x * 255).astype(np.uint8)
    smooth = gaussian_filter(x.astype(np.float32), sigma=(0, JPEG_SMOOTH_PX, JPEG_SMOOTH_PX, 0))
    smooth = np.clip(np.rint(smooth), 0, 255).astype(np.uint8)
    root = tmp_path_factory.mktemp("pipeline-images")
    files = {"png": write_images(x, y, root / "png", "png"), "jpeg": write_images(smooth, y, root / "jpeg", "jpeg")}
    return {"x": x, "smooth": smooth, "y": y, "files": files, "root": root}


def runs(framework: str, root: Path) -> list[dict[str, Any]]:
    png, jpeg = {"root": str(root / "png"), "format": "png"}, {"root": str(root / "jpeg"), "format": "jpeg"}
    out = [
        {"name": "default", "setting": "default", "epochs": EPOCHS, "spec": SPEC, "keep_x": True, **png},
        {"name": "tuned", "setting": TUNED[framework], "epochs": EPOCHS, "spec": SPEC, "keep_x": True, **png},
        {"name": "png", "setting": "default", "epochs": [0], "spec": {**SPEC, **RAW}, "keep_x": True, **png},
        {"name": "jpeg", "setting": "default", "epochs": [0], "spec": {**SPEC, **RAW}, "keep_x": True, **jpeg},
        {"name": "normalized", "setting": "default", "epochs": [0], "spec": {**SPEC, **RAW, "normalize": True},
         "keep_x": True, **png},
        {"name": "augmented", "setting": "workers=2", "epochs": EPOCHS, "spec": {**SPEC, "normalize": False},
         "keep_x": True, **png},
        {"name": "crash", "setting": "workers=2", "epochs": [0], "spec": {**SPEC, "fault": "crash"}, **png},
    ]  # fmt: skip
    if framework == "torch":  # num_workers=0: the main process decodes
        out.append({"name": "crash0", "setting": "default", "epochs": [0], "spec": {**SPEC, "fault": "crash"}, **png})
    return out


@pytest.fixture(scope="module")
def probes(source: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Both frameworks' probes, started before either is waited on: {framework: {"report", "arrays"}}."""
    work = tmp_path_factory.mktemp("pipeline-probe")
    running = {}
    for fw in FRAMEWORKS:
        request = {"cores": 2, "out": str(work / f"{fw}.npz"), "runs": runs(fw, source["root"])}
        (work / f"{fw}.json").write_text(json.dumps(request))
        running[fw] = subprocess.Popen(
            [sys.executable, "-m", "tests.pipeline_probe", fw, str(work / f"{fw}.json")],
            cwd=REPO,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    out = {}
    for fw, p in running.items():
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-4000:]
        with np.load(work / f"{fw}.npz", allow_pickle=False) as arrays:
            out[fw] = {"report": json.loads(stdout), "arrays": dict(arrays)}
    return out


def stems(files: ImageFiles) -> np.ndarray:
    """Each file's source row (write_images names file i of the source `<i>.<ext>`)."""
    return np.array([int(Path(p).stem) for p in files.paths])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_file_once_per_epoch_in_the_shared_order(probes, source, framework: str) -> None:
    files = source["files"]["png"]
    got = probes[framework]
    for run in ("default", "tuned"):
        assert got["report"][run]["error"] is None, got["report"][run]["error"]
        for e in EPOCHS:
            index = got["arrays"][f"{run}/{e}/index"]
            assert sorted(index.tolist()) == list(range(N)), (run, e)
            assert np.array_equal(index, shuffled(N, SEED, e)), (run, e)
            assert np.array_equal(got["arrays"][f"{run}/{e}/y"], np.asarray(files.labels)[index])
            assert np.array_equal(got["arrays"][f"{run}/{e}/y"], source["y"][stems(files)[index]])
    assert not np.array_equal(got["arrays"]["default/0/index"], got["arrays"]["default/1/index"])


def test_the_frameworks_read_the_files_in_the_same_order(probes) -> None:
    for run in ("default", "tuned", "augmented"):
        for e in EPOCHS:
            key = f"{run}/{e}/index"
            assert np.array_equal(probes["torch"]["arrays"][key], probes["keras"]["arrays"][key]), key


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_same_batches_whatever_the_parallelism(probes, framework: str) -> None:
    """Augmentation seeded per (seed, epoch, file): the default (sequential) and the tuned setting agree exactly."""
    arrays = probes[framework]["arrays"]
    for e in EPOCHS:
        assert arrays[f"default/{e}/x"].dtype == np.float32
        assert np.array_equal(arrays[f"default/{e}/x"], arrays[f"tuned/{e}/x"]), e


def test_the_frameworks_draw_the_same_batches(probes) -> None:
    """The same rows in both: augmented uint8 pixels exactly, normalised float32 within rounding."""
    torch_arrays, tf_arrays = (probes[fw]["arrays"] for fw in FRAMEWORKS)
    for e in EPOCHS:
        assert np.array_equal(torch_arrays[f"augmented/{e}/x"], tf_arrays[f"augmented/{e}/x"]), e
        for run in ("default", "tuned"):
            key = f"{run}/{e}/x"
            assert np.allclose(torch_arrays[key], tf_arrays[key], rtol=0, atol=1e-6), key


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_decoded_pixels_equal_the_source(probes, source, framework: str) -> None:
    arrays = probes[framework]["arrays"]
    png = arrays["png/0/x"]
    assert png.dtype == np.uint8 and png.shape == (N, 32, 32, 3)
    assert np.array_equal(arrays["png/0/index"], np.arange(N))  # shuffle=False: file order
    assert np.array_equal(png, source["x"][stems(source["files"]["png"])])
    jpeg = arrays["jpeg/0/x"].astype(np.float64)
    err = np.abs(jpeg - source["smooth"][stems(source["files"]["jpeg"])]).mean()
    assert err < JPEG_MEAN_ABS_TOL, err
    norm = arrays["normalized/0/x"]
    want = (png / 255.0 - np.asarray(SPEC["mean"])) / np.asarray(SPEC["std"])
    assert norm.dtype == np.float32 and np.allclose(norm, want, atol=1e-5)


def test_jpeg_decoders_agree(probes) -> None:
    torch_x, tf_x = (probes[fw]["arrays"]["jpeg/0/x"].astype(np.float64) for fw in FRAMEWORKS)
    assert np.abs(torch_x - tf_x).mean() < JPEG_FRAMEWORKS_TOL


def augmentations(rows: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(dy, dx, flip) per row: the crop offsets into the zero-padded image and the flip that turn `images[r]`
    into `rows[r]` exactly; (-1, -1, -1) where none does."""
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (PAD_PX, PAD_PX), (PAD_PX, PAD_PX), (0, 0)))
    found = np.full((n, 3), -1)
    matches = np.zeros(n, int)
    for dy in range(2 * PAD_PX + 1):
        for dx in range(2 * PAD_PX + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            for flip, candidate in ((0, crop), (1, crop[:, :, ::-1])):
                hit = (candidate == rows).all(axis=(1, 2, 3))
                found[hit] = (dy, dx, flip)
                matches += hit
    assert matches.max() <= 1, "an augmentation of an image is ambiguous: pick images without symmetry"
    return found


def test_augmentation_statistics(probes, source) -> None:
    """Every augmented row is a zero-padded crop of its source image, maybe flipped; both frameworks draw the
    offsets uniformly from 0..2*PAD_PX and flip with FLIP_P (tolerances: about 4 sd of the sampling error)."""
    images = source["x"][stems(source["files"]["png"])]
    stats = {}
    for fw in FRAMEWORKS:
        arrays = probes[fw]["arrays"]
        rows = np.concatenate([arrays[f"augmented/{e}/x"] for e in EPOCHS])
        index = np.concatenate([arrays[f"augmented/{e}/index"] for e in EPOCHS])
        found = augmentations(rows, images[index])
        assert (found >= 0).all(), f"{fw}: {(found < 0).any(axis=1).sum()} rows are no crop/flip of their image"
        planned = np.concatenate([epoch_plan(N, SEED, e).table()[:, 1:] for e in EPOCHS])
        assert np.array_equal(found, planned), f"{fw}: rows cropped or flipped otherwise than the epoch's plan"
        offsets = found[:, :2].ravel()
        shares = np.bincount(offsets, minlength=2 * PAD_PX + 1) / len(offsets)
        assert np.abs(shares - 1 / (2 * PAD_PX + 1)).max() < OFFSET_SHARE_TOL, (fw, shares)
        flip_rate = found[:, 2].mean()
        assert abs(flip_rate - FLIP_P) < FLIP_TOL, (fw, flip_rate)
        stats[fw] = {
            "pad_distance": np.abs(offsets - PAD_PX).mean(),
            "channel_means": rows.reshape(-1, rows.shape[-1]).mean(axis=0),
        }
    assert abs(stats["torch"]["pad_distance"] - stats["keras"]["pad_distance"]) < PAD_DISTANCE_TOL, stats
    gap = np.abs(stats["torch"]["channel_means"] - stats["keras"]["channel_means"]).max()
    assert gap < CHANNEL_MEAN_TOL, stats


def test_a_dead_dataloader_worker_raises_naming_it(probes) -> None:
    crash = probes["torch"]["report"]["crash"]
    assert crash["error"] is not None and "DataLoader worker (pid" in crash["error"], crash
    assert crash["error_s"] < DEAD_WORKER_S, crash
    crash0 = probes["torch"]["report"]["crash0"]
    assert crash0["error"] is not None and "num_workers=0" in crash0["error"], crash0


def test_tf_data_raises_naming_the_corrupt_file(probes, source) -> None:
    crash = probes["keras"]["report"]["crash"]
    assert crash["error"] is not None and source["files"]["png"].paths[FAULT_INDEX] in crash["error"], crash
    assert crash["error_s"] < DEAD_WORKER_S, crash


def test_describe_names_the_calls(probes) -> None:
    torch_settings = probes["torch"]["report"]["settings"]
    assert torch_settings == ["default", "workers=1", "workers=2"]
    assert probes["keras"]["report"]["settings"] == ["default", "workers=1", "workers=2", "autotune", "autotune+cache"]
    default = probes["torch"]["report"]["default"]["describe"]
    assert default["num_workers"] == 0 and default["pin_memory"] is False and "prefetch_factor" not in default
    tuned = probes["torch"]["report"]["tuned"]["describe"]
    assert tuned["num_workers"] == 2 and tuned["persistent_workers"] is True and tuned["timeout"] > 0
    cached = probes["keras"]["report"]["tuned"]["describe"]
    assert cached["num_parallel_calls"] == "AUTOTUNE" and cached["cache"] and cached["deterministic"] is True
    assert probes["keras"]["report"]["default"]["describe"]["num_parallel_calls"] is None
