"""Keyword clips as raw waveforms: (N, CLIP_SAMPLES, 1) float32 (channels last), int64 labels.

Every clip is CLIP_SAMPLES samples at SAMPLE_RATE_HZ (0.5 s at 8 kHz): the conv1d-audio workload's
input, fixed here and in its model_kwargs ("in_samples"). Each clip is scaled to unit RMS (gain
normalisation: loudness carries no class information, and unit-scale input trains much faster).

Default (no data folder): deterministic synthetic "words" generated from the seed. Class c is a pair
of vowel-like syllables (two formant tones, amplitude-modulated at a pitch that each clip draws, as
a voice would); each clip also draws its syllable lengths, gap, start time, loudness, formant
jitter and background noise. One vowel alone never identifies the class: the network has to hear
both syllables.

Real data: a folder per class, Speech Commands layout: data_dir/<label>/*.wav (folders whose name
starts with "_" or ".", such as _background_noise_, are skipped). Each WAV must be mono 16-bit PCM
at SAMPLE_RATE_HZ (resample first, e.g. `sox in.wav -r 8000 out.wav`); longer clips keep their
middle CLIP_SAMPLES samples, shorter ones are zero-padded at the end. Labels are the sorted folder
names; the split is seeded, stratified 80/20 over the files.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from bench.core.data import Dataset, stratified_split
from bench.core.errors import UsageError

SAMPLE_RATE_HZ = 8000
CLIP_SAMPLES = 4000  # 0.5 s
PCM_SCALE = 32768.0  # int16 -> [-1, 1)

SYNTHETIC_TRAIN = 1200
SYNTHETIC_TEST = 400
# (F1, F2) formant frequencies in Hz of six vowels (adult averages, rounded): a, i, u, e, o, ae
VOWELS_HZ = np.array([(730, 1090), (270, 2290), (300, 870), (530, 1840), (570, 840), (660, 1720)], dtype=np.float64)
WORDS = ((0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 1), (2, 5), (0, 3))  # class -> its two vowels
NUM_CLASSES = len(WORDS)
PITCH_HZ = (90.0, 240.0)
SYLLABLE_S = (0.10, 0.16)
GAP_S = (0.02, 0.06)
FORMANT_JITTER = 0.06  # relative
NOISE_STD = (0.02, 0.08)


def load_audio(seed: int, data_dir: Path | None = None) -> Dataset:
    """Synthetic keyword clips from `seed`, or WAV files from `data_dir`/<label>/*.wav."""
    if data_dir is None:
        x_tr, y_tr = synthetic_clips(SYNTHETIC_TRAIN, np.random.default_rng([seed, 0]))
        x_te, y_te = synthetic_clips(SYNTHETIC_TEST, np.random.default_rng([seed, 1]))
        labels = [f"word{c}" for c in range(NUM_CLASSES)]
        source, info = "synthetic (seeded)", {"generator": "two-syllable formant words + noise"}
    else:
        labels, files = find_clips(data_dir)
        x = np.stack([fit_length(read_wav(f)) for f in files])[..., None]
        y = np.array([labels.index(f.parent.name) for f in files], dtype=np.int64)
        check_splittable(data_dir, labels, y)
        x_tr, y_tr, x_te, y_te = stratified_split(x, y, 0.2, seed)
        source, info = str(data_dir), {}
    info = {**info, "sample_rate_hz": SAMPLE_RATE_HZ, "labels": labels}
    return Dataset("audio", unit_rms(x_tr), y_tr, unit_rms(x_te), y_te, len(labels), source, info=info)


def check_splittable(data_dir: Path, labels: list[str], y: np.ndarray) -> None:
    """A seeded stratified 80/20 split needs 2 clips per class and a test split with every class."""
    counts = np.bincount(y, minlength=len(labels))
    if counts.min() < 2 or len(y) * 0.2 < len(labels):
        few = labels[int(counts.argmin())]
        raise UsageError(
            f"{data_dir}: too few clips to split 80/20 by class ({len(y)} clips, {len(labels)} classes, "
            f"{int(counts.min())} in {few}/): need at least 2 per class and 5 per class on average"
        )


def found(data_dir: Path) -> bool:
    """Whether `data_dir` holds <label>/*.wav clips."""
    return data_dir.is_dir() and any(data_dir.glob("*/*.wav"))


def find_clips(data_dir: Path) -> tuple[list[str], list[Path]]:
    """Sorted class names and every WAV below them."""
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir}: not a folder (expected <label>/*.wav)")
    folders = sorted(d for d in data_dir.iterdir() if d.is_dir() and not d.name.startswith(("_", ".")))
    files = {d.name: sorted(d.glob("*.wav")) for d in folders}
    labels = [name for name, found in files.items() if found]
    if not labels:
        raise UsageError(f"{data_dir}: no <label>/*.wav files (expected one folder of WAV clips per class)")
    return labels, [f for name in labels for f in files[name]]


def read_wav(path: Path) -> np.ndarray:
    """A mono 16-bit PCM WAV at SAMPLE_RATE_HZ -> float32 samples in [-1, 1)."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise UsageError(f"{path}: not a readable PCM WAV file ({e})") from e
    if rate != SAMPLE_RATE_HZ:
        raise UsageError(f"{path}: sample rate {rate} Hz, expected {SAMPLE_RATE_HZ} Hz (resample the clips first)")
    if channels != 1 or width != 2:
        raise UsageError(f"{path}: {channels} channel(s) of {8 * width}-bit samples, expected mono 16-bit PCM")
    return (np.frombuffer(raw, dtype="<i2") / np.float32(PCM_SCALE)).astype(np.float32)


def fit_length(clip: np.ndarray) -> np.ndarray:
    """The middle CLIP_SAMPLES samples of a longer clip; a shorter one zero-padded at the end."""
    if len(clip) >= CLIP_SAMPLES:
        start = (len(clip) - CLIP_SAMPLES) // 2
        return clip[start : start + CLIP_SAMPLES]
    return np.pad(clip, (0, CLIP_SAMPLES - len(clip)))


def unit_rms(x: np.ndarray) -> np.ndarray:
    """Each clip divided by its root mean square (a silent clip stays zero)."""
    rms = np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=(1, 2), keepdims=True))
    return (x / np.where(rms > 0, rms, 1.0)).astype(np.float32)


def synthetic_clips(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` clips, classes balanced and shuffled: (n, CLIP_SAMPLES, 1) float32 and (n,) int64.

    Computed in float32 (numpy's float32 sin is an order of magnitude faster than float64's)."""
    f32 = np.float32
    y = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)
    t = (np.arange(CLIP_SAMPLES) / SAMPLE_RATE_HZ).astype(f32)  # seconds
    two_pi = f32(2 * np.pi)
    pitch = rng.uniform(*PITCH_HZ, (n, 1)).astype(f32)
    syllable = rng.uniform(*SYLLABLE_S, (n, 2)).astype(f32)
    gap = rng.uniform(*GAP_S, (n, 1)).astype(f32)
    length = syllable.sum(axis=1, keepdims=True) + gap
    start = rng.uniform(0.0, 1.0, (n, 1)).astype(f32) * (f32(CLIP_SAMPLES / SAMPLE_RATE_HZ) - length)  # time shift
    glottal_phase = rng.uniform(0, 2 * np.pi, (n, 1)).astype(f32)
    voiced = f32(0.5) + f32(0.5) * np.sin(two_pi * pitch * t + glottal_phase)  # glottal pulses
    clip = np.zeros((n, CLIP_SAMPLES), dtype=f32)
    onset = start
    for s in range(2):
        jitter = rng.uniform(1 - FORMANT_JITTER, 1 + FORMANT_JITTER, (n, 2))
        formants = (VOWELS_HZ[np.array(WORDS)[y, s]] * jitter).astype(f32)
        inside = np.clip((t - onset) / syllable[:, s : s + 1], f32(0.0), f32(1.0))
        envelope = np.sin(f32(np.pi) * inside) ** 2  # smooth rise and fall, zero outside the syllable
        tones = np.sin(two_pi * formants[:, 0:1] * t) + f32(0.6) * np.sin(two_pi * formants[:, 1:2] * t)
        clip += envelope * voiced * tones
        onset = onset + syllable[:, s : s + 1] + gap
    clip *= rng.uniform(0.2, 0.5, (n, 1)).astype(f32)  # loudness
    clip += rng.standard_normal(clip.shape, dtype=f32) * rng.uniform(*NOISE_STD, (n, 1)).astype(f32)
    return np.clip(clip, f32(-1.0), f32(1.0))[..., None], y
