"""`gan_quality`: how digit-like a set of generated 8x8 images is, measured in numpy/scikit-learn,
outside both frameworks, so that neither grades itself.

Fitted once on the real training images (deterministic: lbfgs and a full SVD, no randomness):
  - a multinomial LogisticRegression digit classifier on the 64 pixels;
  - a PCA to FEATURES components, and the Gaussian statistics (mean, covariance) of the real images in it.
For generated images x_1..x_N the components, each in [0, 1], are
  confidence  mean over samples of the classifier's max class probability (sharp, recognisable digits);
  coverage    entropy of the histogram of predicted classes / log(10) (1 = all ten digits equally often);
  fd_score    max(0, 1 - FD(generated) / FD(uniform noise)), FD the Fréchet distance between the Gaussian
              fits of real and generated PCA features, FD(uniform noise) that of NOISE_SAMPLES seeded
              U(0, 1) images (0 = no closer to the data than noise, 1 = same statistics as the data);
and gan_quality = (confidence * coverage * fd_score) ** (1/3), their geometric mean: one weak component
(blurry samples, mode collapse, wrong statistics) pulls it down. The real test digits score about 0.95,
uniform noise about 0 (tests/test_tasks_rl_gan.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

FEATURES = 16  # PCA components for the Fréchet distance
NUM_CLASSES = 10
NOISE_SAMPLES = 1000
NOISE_SEED = 12345


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2)), the FID formula."""
    covmean = linalg.sqrtm(cov1 @ cov2)
    covmean = np.real(covmean)  # sqrtm can return a tiny imaginary part from round-off
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


class GanScorer:
    """Fitted on real (N, 8, 8, 1) images in [0, 1] with their labels; `score` grades generated images."""

    def __init__(self, x_real: np.ndarray, y_real: np.ndarray) -> None:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression

        flat = self.flatten(x_real)
        self.classifier = LogisticRegression(C=1.0, max_iter=5000, solver="lbfgs").fit(flat, y_real)
        self.pca = PCA(n_components=FEATURES, svd_solver="full").fit(flat)
        self.mu, self.cov = gaussian(self.pca.transform(flat))
        noise = np.random.default_rng(NOISE_SEED).uniform(0.0, 1.0, (NOISE_SAMPLES, *x_real.shape[1:]))
        self.noise_fd = self.frechet(noise)

    @staticmethod
    def flatten(images: np.ndarray) -> np.ndarray:
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1)

    def frechet(self, images: np.ndarray) -> float:
        mu, cov = gaussian(self.pca.transform(self.flatten(images)))
        return frechet_distance(self.mu, self.cov, mu, cov)

    def score(self, images: np.ndarray) -> dict[str, Any]:
        flat = self.flatten(images)
        if not np.all(np.isfinite(flat)):
            return {"gan_quality": 0.0, "confidence": 0.0, "coverage": 0.0, "fd_score": 0.0, "frechet": float("inf")}
        proba = self.classifier.predict_proba(flat)
        hist = np.bincount(proba.argmax(axis=1), minlength=NUM_CLASSES) / len(proba)
        nonzero = hist[hist > 0]
        coverage = float(max(0.0, -(nonzero * np.log(nonzero)).sum() / np.log(NUM_CLASSES)))
        confidence = float(proba.max(axis=1).mean())
        fd = self.frechet(images)
        fd_score = float(max(0.0, 1.0 - fd / self.noise_fd))
        return {
            "gan_quality": float((confidence * coverage * fd_score) ** (1.0 / 3.0)),
            "confidence": confidence,
            "coverage": coverage,
            "fd_score": fd_score,
            "frechet": fd,
        }
