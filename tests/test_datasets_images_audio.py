"""The image and audio datasets (bench/core/datasets/digits.py, cifar10.py, audio.py): the embedded and
synthetic defaults, and the real-data readers on tiny files written here in the official formats."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import NearestCentroid

from bench.core import data, workloads
from bench.core.datasets import audio, cifar10
from bench.core.errors import UsageError
from bench.measure import tasks

# --- digits -------------------------------------------------------------------------------------------


def test_digits_are_nhwc_unit_range_and_split_by_class() -> None:
    ds = data.load("digits", 0)
    assert ds.x_train.shape == (1437, 8, 8, 1) and ds.x_test.shape == (360, 8, 8, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    # stratified: every class has its ~20% share of the test split (sklearn's digits: 174..183 per class)
    assert set(np.bincount(ds.y_test, minlength=10)) <= {35, 36, 37}
    again, other = data.load("digits", 0), data.load("digits", 1)
    assert np.array_equal(ds.x_test, again.x_test)
    assert not np.array_equal(ds.y_test, other.y_test)


# --- CIFAR-10: synthetic ------------------------------------------------------------------------------


def test_synthetic_cifar10_is_seeded_balanced_and_standardised() -> None:
    ds = data.load("cifar10", 0)
    assert ds.source == "synthetic (seeded)"
    assert ds.x_train.shape == (cifar10.SYNTHETIC_TRAIN, 32, 32, 3) and ds.x_train.dtype == np.float32
    assert ds.x_test.shape == (cifar10.SYNTHETIC_TEST, 32, 32, 3) and ds.y_test.dtype == np.int64
    assert np.all(np.bincount(ds.y_train) == cifar10.SYNTHETIC_TRAIN // 10)
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 1, 2), dtype=np.float64), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 1, 2), dtype=np.float64), 1.0, atol=1e-5)
    assert np.array_equal(ds.x_train, data.load("cifar10", 0).x_train)
    assert not np.allclose(ds.x_train, data.load("cifar10", 1).x_train)


def test_synthetic_cifar10_classes_need_spatial_features() -> None:
    """Phase-free features (per-channel 2-D power spectra: orientation and colour) separate the classes;
    class-mean pixels do not (the gratings' phase is random): the task is for a CNN, not a template."""
    ds = data.load("cifar10", 0)

    def spectrum(x: np.ndarray) -> np.ndarray:
        return np.log1p(np.abs(np.fft.rfft2(x, axes=(1, 2)))).reshape(len(x), -1)

    by_spectrum = NearestCentroid().fit(spectrum(ds.x_train), ds.y_train).score(spectrum(ds.x_test), ds.y_test)
    flat_train, flat_test = ds.x_train.reshape(len(ds.x_train), -1), ds.x_test.reshape(len(ds.x_test), -1)
    by_pixels = NearestCentroid().fit(flat_train, ds.y_train).score(flat_test, ds.y_test)
    assert by_spectrum > 0.7 and by_pixels < 0.3, (by_spectrum, by_pixels)


# --- CIFAR-10: the official binary version ------------------------------------------------------------


def record(label: int, rgb: np.ndarray) -> bytes:
    """One CIFAR-10 binary record: the label byte, then the R, G, B planes (32x32 each, row-major)."""
    return bytes([label]) + rgb.astype(np.uint8).transpose(2, 0, 1).tobytes()


def write_cifar_bins(folder: Path, per_file: int = 3) -> dict[str, list[tuple[int, np.ndarray]]]:
    """All six official files with `per_file` random records each; returns what was written."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in (*cifar10.TRAIN_FILES, cifar10.TEST_FILE):
        recs = [(int(rng.integers(10)), rng.integers(0, 256, (32, 32, 3))) for _ in range(per_file)]
        (folder / name).write_bytes(b"".join(record(label, img) for label, img in recs))
        written[name] = recs
    return written


def test_read_batch_decodes_labels_and_chw_planes_to_nhwc(tmp_path: Path) -> None:
    img = np.zeros((32, 32, 3), dtype=np.uint8)
    img[0, 1] = (255, 0, 51)  # row 0, column 1: red 1.0, green 0, blue 0.2
    img[31, 0, 1] = 102  # last row, first column: green 0.4
    path = tmp_path / "one.bin"
    path.write_bytes(record(7, img) + record(2, np.full((32, 32, 3), 255)))
    x, y = cifar10.read_batch(path)
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.float32
    assert y.tolist() == [7, 2] and y.dtype == np.int64
    np.testing.assert_allclose(x[0, 0, 1], [1.0, 0.0, 0.2], atol=1e-7)
    np.testing.assert_allclose(x[0, 31, 0], [0.0, 0.4, 0.0], atol=1e-7)
    assert x[0].sum() == pytest.approx(1.0 + 0.2 + 0.4) and np.all(x[1] == 1.0)


@pytest.mark.parametrize("subfolder", ["", cifar10.SUBFOLDER])
def test_cifar10_folder_loads_every_file(tmp_path: Path, subfolder: str) -> None:
    written = write_cifar_bins(tmp_path / subfolder)
    ds = data.load("cifar10", 0, tmp_path)
    assert ds.source == str(tmp_path / subfolder)
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
    train_labels = [label for name in cifar10.TRAIN_FILES for label, _ in written[name]]
    assert ds.y_train.tolist() == train_labels
    assert ds.y_test.tolist() == [label for label, _ in written[cifar10.TEST_FILE]]
    # standardised per channel with training statistics: undo it and find the test pixels again
    raw_train = np.stack([img for name in cifar10.TRAIN_FILES for _, img in written[name]]) / 255.0
    mean, std = raw_train.mean(axis=(0, 1, 2)), raw_train.std(axis=(0, 1, 2))
    raw_test = np.stack([img for _, img in written[cifar10.TEST_FILE]]) / 255.0
    np.testing.assert_allclose(ds.x_test * std + mean, raw_test, atol=1e-5)


def test_truncated_cifar10_file_is_a_usage_error(tmp_path: Path) -> None:
    write_cifar_bins(tmp_path)
    path = tmp_path / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UsageError, match=r"data_batch_3\.bin: 9119 bytes .* 3073-byte records"):
        data.load("cifar10", 0, tmp_path)


def test_cifar10_folder_errors_name_what_is_missing(tmp_path: Path) -> None:
    write_cifar_bins(tmp_path)
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(UsageError, match=r"missing test_batch\.bin"):
        data.load("cifar10", 0, tmp_path)
    pickled = tmp_path / "python"
    pickled.mkdir()
    (pickled / "data_batch_1").write_bytes(b"\x80\x04")
    with pytest.raises(UsageError, match="python/pickle version"):
        data.load("cifar10", 0, pickled)
    with pytest.raises(UsageError, match="not a folder"):
        data.load("cifar10", 0, tmp_path / "absent")


def test_cifar10_labels_out_of_range_are_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(record(11, np.zeros((32, 32, 3))))
    with pytest.raises(UsageError, match=r"bad\.bin: label 11 out of range"):
        cifar10.read_batch(path)


# --- audio: synthetic ---------------------------------------------------------------------------------


def test_synthetic_audio_is_seeded_balanced_unit_rms_clips() -> None:
    ds = data.load("audio", 0)
    assert ds.source == "synthetic (seeded)"
    assert ds.x_train.shape == (audio.SYNTHETIC_TRAIN, audio.CLIP_SAMPLES, 1) and ds.x_train.dtype == np.float32
    assert ds.x_test.shape == (audio.SYNTHETIC_TEST, audio.CLIP_SAMPLES, 1) and ds.y_train.dtype == np.int64
    assert np.all(np.bincount(ds.y_test) == audio.SYNTHETIC_TEST // audio.NUM_CLASSES)
    np.testing.assert_allclose(np.sqrt(np.mean(ds.x_train**2, axis=(1, 2))), 1.0, rtol=1e-4)
    assert np.array_equal(ds.x_test, data.load("audio", 0).x_test)
    assert not np.allclose(ds.x_test, data.load("audio", 1).x_test)


def test_synthetic_audio_classes_are_heard_in_the_spectrum() -> None:
    """Each word has its own pair of formant vowels: class-mean magnitude spectra identify most clips."""
    ds = data.load("audio", 0)

    def spectrum(x: np.ndarray) -> np.ndarray:
        return np.log1p(np.abs(np.fft.rfft(x[..., 0], axis=1)))

    score = NearestCentroid().fit(spectrum(ds.x_train), ds.y_train).score(spectrum(ds.x_test), ds.y_test)
    assert score > 0.6, score


def test_conv1d_workload_input_is_the_audio_clip() -> None:
    assert workloads.get("conv1d-audio").model_kwargs["in_samples"] == audio.CLIP_SAMPLES
    assert workloads.get("conv1d-audio").model_kwargs["num_classes"] == audio.NUM_CLASSES


# --- audio: a folder of WAV files ---------------------------------------------------------------------


def write_wav(path: Path, samples: np.ndarray, rate: int = audio.SAMPLE_RATE_HZ, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def write_speech_folder(root: Path, labels: tuple[str, ...] = ("no", "yes"), per_label: int = 5) -> None:
    rng = np.random.default_rng(3)
    for label in labels:
        for i in range(per_label):
            length = (3000, 4000, 6000)[i % 3]  # shorter, exact, longer than a clip
            write_wav(root / label / f"clip{i}.wav", rng.integers(-20000, 20000, length))
    write_wav(root / "_background_noise_" / "noise.wav", rng.integers(-100, 100, 9000))


def test_read_wav_and_fit_length(tmp_path: Path) -> None:
    pcm = np.array([0, 16384, -32768, 32767, -1] * 1000, dtype=np.int16)
    write_wav(tmp_path / "a.wav", pcm)
    clip = audio.read_wav(tmp_path / "a.wav")
    assert clip.dtype == np.float32
    np.testing.assert_array_equal(clip[:5], [0.0, 0.5, -1.0, 32767 / 32768, -1 / 32768])
    ramp = np.arange(audio.CLIP_SAMPLES + 10, dtype=np.float32)
    np.testing.assert_array_equal(audio.fit_length(ramp), ramp[5 : 5 + audio.CLIP_SAMPLES])  # the middle
    short = audio.fit_length(np.ones(100, dtype=np.float32))
    assert len(short) == audio.CLIP_SAMPLES and short[:100].sum() == 100 and not short[100:].any()


def test_wav_folder_loads_labels_from_folder_names(tmp_path: Path) -> None:
    write_speech_folder(tmp_path)
    ds = data.load("audio", 0, tmp_path)
    assert ds.source == str(tmp_path) and ds.num_classes == 2
    assert dict(ds.info)["labels"] == ["no", "yes"]  # sorted; _background_noise_ skipped
    assert ds.x_train.shape == (8, audio.CLIP_SAMPLES, 1) and ds.x_test.shape == (2, audio.CLIP_SAMPLES, 1)
    assert sorted(ds.y_test.tolist()) == [0, 1]
    np.testing.assert_allclose(np.sqrt(np.mean(ds.x_train**2, axis=(1, 2))), 1.0, rtol=1e-4)


def test_wav_with_the_wrong_sample_rate_is_a_usage_error(tmp_path: Path) -> None:
    write_speech_folder(tmp_path)
    write_wav(tmp_path / "yes" / "hifi.wav", np.zeros(16000), rate=16000)
    with pytest.raises(UsageError, match=r"hifi\.wav: sample rate 16000 Hz, expected 8000 Hz"):
        data.load("audio", 0, tmp_path)


def test_bad_wav_files_are_usage_errors(tmp_path: Path) -> None:
    write_wav(tmp_path / "stereo.wav", np.zeros(200), channels=2)
    with pytest.raises(UsageError, match=r"stereo\.wav: 2 channel\(s\) of 16-bit samples, expected mono"):
        audio.read_wav(tmp_path / "stereo.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wave file at all")
    with pytest.raises(UsageError, match=r"junk\.wav: not a readable PCM WAV"):
        audio.read_wav(tmp_path / "junk.wav")


def test_empty_or_too_small_wav_folders_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "yes").mkdir()
    with pytest.raises(UsageError, match=r"no <label>/\*\.wav files"):
        data.load("audio", 0, tmp_path)
    write_speech_folder(tmp_path / "tiny", per_label=1)
    with pytest.raises(UsageError, match="too few clips"):
        data.load("audio", 0, tmp_path / "tiny")


def test_a_folder_with_other_classes_than_the_workload_is_a_usage_error(tmp_path: Path) -> None:
    write_speech_folder(tmp_path, labels=("down", "go", "up"))
    with pytest.raises(UsageError, match="3 classes, but workload conv1d-audio classifies 8"):
        tasks.make(workloads.get("conv1d-audio"), 0, tmp_path)
