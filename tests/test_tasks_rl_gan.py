"""The GAN and DQN training programs (bench/measure/tasks.py GanTask, DqnTask), with stand-in backends: the
tasks are numpy + gymnasium + scikit-learn only, so no framework is imported here."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core import data, workloads
from bench.measure import tasks
from bench.measure.gan_quality import GanScorer
from bench.measure.rl import ReplayBuffer, linear_epsilon

DQN = workloads.get("dqn-cartpole")
GAN = workloads.get("dcgan-digits")


class Policy:
    """A stand-in backend whose `predict` gives Q-values from a fixed rule on CartPole observations."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.calls = 0

    def predict(self, obs: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.rule == "left":
            right = np.full(len(obs), -1.0)
        else:  # push towards the side the pole falls to: balances CartPole for the full 500 steps
            right = obs[:, 2] + 0.5 * obs[:, 3]
        return np.stack([np.zeros(len(obs)), right], axis=1).astype(np.float32)


class Sampler:
    """A stand-in generator: `predict(z)` returns fixed images, one per noise vector."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def predict(self, z: np.ndarray) -> np.ndarray:
        return self.images[np.arange(len(z)) % len(self.images)]


def assert_batches_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ---------------------------------------------------------------- DQN


def test_dqn_task_is_deterministic_for_a_seed() -> None:
    first = [next(tasks.make(DQN, seed=0).batches(0, Policy("balance"))) for _ in range(2)]
    assert_batches_equal(*first)
    assert_batches_equal(tasks.make(DQN, seed=0).example_batch(), tasks.make(DQN, seed=0).example_batch())
    other = next(tasks.make(DQN, seed=1).batches(0, Policy("balance")))
    assert not np.array_equal(first[0]["obs"], other["obs"])


def test_dqn_batches_are_replay_minibatches() -> None:
    k = DQN.model_kwargs
    task = tasks.make(DQN, seed=0)
    batch = task.example_batch()
    assert set(batch) == {"obs", "action", "reward", "next_obs", "discount", "sync_target"}
    assert batch["obs"].shape == batch["next_obs"].shape == (DQN.batch_size, k["obs_dim"])
    assert batch["obs"].dtype == np.float32 and batch["action"].dtype == np.int64
    assert set(np.unique(batch["action"])) <= set(range(k["num_actions"]))
    assert set(np.unique(batch["discount"])) <= {np.float32(0.0), np.float32(k["gamma"])}
    assert batch["sync_target"].shape == () and batch["sync_target"].dtype == bool
    assert task.samples_per_step == DQN.batch_size and task.predict_key == "obs"
    assert task.buffer.size == k["warmup_steps"]  # filled by random warm-up steps before the first epoch


def test_dqn_epoch_trains_every_step_and_syncs_the_target_on_schedule() -> None:
    k = DQN.model_kwargs
    task = tasks.make(DQN, seed=0)
    backend = Policy("balance")
    flags = [bool(b["sync_target"]) for b in task.batches(0, backend)]
    assert len(flags) == k["env_steps_per_epoch"] // k["train_every"]
    every = k["target_update_every"]
    assert [i + 1 for i, f in enumerate(flags) if f] == list(range(every, len(flags) + 1, every))
    assert task.buffer.size == k["warmup_steps"] + k["env_steps_per_epoch"]
    assert 0 < backend.calls < k["env_steps_per_epoch"]  # greedy only where it does not explore


def test_dqn_evaluation_runs_greedy_episodes_to_the_time_limit() -> None:
    task = tasks.make(DQN, seed=0)
    good, bad = task.evaluate(Policy("balance")), task.evaluate(Policy("left"))
    assert good["mean_return"] == 500.0  # CartPole-v1 truncates at 500 steps
    assert bad["mean_return"] < 20.0
    assert task.evaluate(Policy("left")) == bad  # fixed evaluation seeds


def test_replay_buffer_wraps_and_samples_what_was_stored() -> None:
    buf = ReplayBuffer(capacity=3, obs_dim=2)
    for i in range(5):
        buf.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), 0.0 if i == 4 else 0.9)
    assert buf.size == 3
    batch = buf.sample(50, np.random.default_rng(0))
    assert set(batch["reward"]) == {2.0, 3.0, 4.0}  # the oldest two were overwritten
    np.testing.assert_array_equal(batch["next_obs"][:, 0], batch["obs"][:, 0] + 1)
    np.testing.assert_array_equal(batch["discount"] == 0.0, batch["reward"] == 4.0)


def test_linear_epsilon() -> None:
    assert linear_epsilon(0, 1.0, 0.05, 100) == 1.0
    assert linear_epsilon(50, 1.0, 0.05, 100) == pytest.approx(0.525)
    assert linear_epsilon(100, 1.0, 0.05, 100) == linear_epsilon(10_000, 1.0, 0.05, 100) == 0.05


# ---------------------------------------------------------------- GAN


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits", 0)


@pytest.fixture(scope="module")
def scorer(digits: data.Dataset) -> GanScorer:
    return GanScorer(digits.x_train, digits.y_train)


def test_gan_quality_ranks_real_digits_far_above_noise(scorer: GanScorer, digits: data.Dataset) -> None:
    real = scorer.score(digits.x_test)
    noise = scorer.score(np.random.default_rng(1).uniform(0.0, 1.0, (1000, 8, 8, 1)))
    assert real["gan_quality"] > 0.9, real
    assert noise["gan_quality"] < 0.3, noise
    assert real["fd_score"] > 0.9 and noise["fd_score"] < 0.1
    for r in (real, noise):
        assert {"gan_quality", "confidence", "coverage", "fd_score", "frechet"} <= set(r)
        assert all(0.0 <= r[k] <= 1.0 for k in ("gan_quality", "confidence", "coverage", "fd_score"))


def test_gan_quality_punishes_mode_collapse_and_blur(scorer: GanScorer, digits: data.Dataset) -> None:
    one_digit = scorer.score(digits.x_train[digits.y_train == 3])
    assert one_digit["coverage"] < 0.1 and one_digit["gan_quality"] < 0.3
    blurred = scorer.score(0.5 * digits.x_test + 0.5 * digits.x_train.mean(axis=0))
    assert blurred["gan_quality"] < scorer.score(digits.x_test)["gan_quality"] - 0.1
    assert scorer.score(np.full((10, 8, 8, 1), np.nan))["gan_quality"] == 0.0


def test_gan_task_batches_and_evaluation(digits: data.Dataset) -> None:
    task, again = tasks.make(GAN, seed=0), tasks.make(GAN, seed=0)
    assert_batches_equal(task.example_batch(), again.example_batch())
    batch = task.example_batch()
    assert batch["real"].shape == (GAN.batch_size, 8, 8, 1) and batch["real"].dtype == np.float32
    assert batch["z"].shape == (GAN.batch_size, GAN.model_kwargs["z_dim"]) and batch["z"].dtype == np.float32
    assert not np.array_equal(batch["z"], next(task.batches(1, None))["z"])  # fresh noise every epoch
    assert len(list(task.batches(0, None))) == len(digits.x_train) // GAN.batch_size
    assert task.predict_key == "z" and task.samples_per_step == GAN.batch_size
    graded = task.evaluate(Sampler(digits.x_test))  # a "generator" that outputs real test digits
    assert graded == task.scorer.score(Sampler(digits.x_test).predict(task.eval_z))
    assert graded["gan_quality"] > 0.9
