"""Training programs, framework-neutral: what a batch is and how a model is graded.

A task makes the numpy batches (one list for every backend) and grades the model through
`backend.predict` in numpy, so that neither framework grades itself. The harness times only
`backend.train_step`; everything here runs outside the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bench.core import data
from bench.core.backends import Backend
from bench.core.errors import UsageError
from bench.core.spec import Workload
from bench.measure.gan_quality import GanScorer
from bench.measure.rl import ReplayBuffer, linear_epsilon


class Task(Protocol):
    workload: Workload
    samples_per_step: int
    predict_key: str  # the batch entry that `backend.predict` takes (parity tests, FLOP counting)
    # Whether the harness may make batches ahead of the steps (False where a batch depends on the
    # previous step's weights, as DQN's acting does)
    batches_ahead: bool

    def describe(self) -> dict[str, Any]: ...

    def batches(self, epoch: int, backend: Backend) -> Iterator[dict[str, np.ndarray]]: ...

    def evaluate(self, backend: Backend) -> dict[str, float]:
        """Must contain `workload.metric`."""

    def example_batch(self) -> dict[str, np.ndarray]:
        """One training batch (parity tests, FLOP counting)."""

    def inference_inputs(self) -> np.ndarray:
        """The inputs the infer and export scenarios predict on (bench.measure.prediction): the test set's."""


def classification_metrics(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy (argmax) and mean cross-entropy from logits, in float64 numpy (a stable log-softmax)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return {
        "accuracy": float((logits.argmax(axis=1) == y).mean()),
        "test_loss": float(-logp[np.arange(len(y)), y].mean()),
    }


class ClassifyTask:
    """Supervised classification: cross-entropy on logits, accuracy on the held-out split."""

    eval_batch = 1024
    predict_key = "x"
    batches_ahead = True

    def __init__(self, workload: Workload, seed: int, data_dir: str | Path | None, data_seed: int) -> None:
        self.workload = workload
        self.seed = seed
        self.ds = data.load(workload.dataset, data_seed, data_dir)
        outputs = workload.model_kwargs.get("num_classes")
        if outputs is not None and outputs != self.ds.num_classes:  # a real data folder with other classes
            raise UsageError(
                f"{self.ds.source}: {self.ds.num_classes} classes, but workload {workload.name} classifies {outputs}"
            )
        self.samples_per_step = min(workload.batch_size, len(self.ds.x_train))

    def describe(self) -> dict[str, Any]:
        return self.ds.describe()

    def batches(self, epoch: int, backend: Backend) -> Iterator[dict[str, np.ndarray]]:
        for idx in data.batch_order(len(self.ds.x_train), self.workload.batch_size, epoch, self.seed):
            yield {"x": self.ds.x_train[idx], "y": self.ds.y_train[idx]}

    def evaluate(self, backend: Backend) -> dict[str, float]:
        return self.grade(backend.predict)

    def grade(self, predict: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
        """Accuracy and test loss of `predict` (numpy inputs -> logits) over the test split, in chunks of
        eval_batch. The overhead check grades its bare loops through this too, so that the untimed work
        between epochs is the same on both sides."""
        x = self.ds.x_test
        chunks = [predict(x[i : i + self.eval_batch]) for i in range(0, len(x), self.eval_batch)]
        return classification_metrics(chunks[0] if len(chunks) == 1 else np.concatenate(chunks), self.ds.y_test)

    def example_batch(self) -> dict[str, np.ndarray]:
        return next(self.batches(0, None))  # type: ignore[arg-type]

    def inference_inputs(self) -> np.ndarray:
        """What the infer and export scenarios feed the model (bench.measure.prediction): the test split's inputs."""
        return self.ds.x_test


class GanTask:
    """GAN on real images: each batch is real images plus the generator's noise z (drawn here, so that
    both frameworks see the same noise). Graded by `gan_quality` (bench/measure/gan_quality.py) on samples
    from a fixed z, scored outside both frameworks."""

    eval_samples = 1000
    predict_key = "z"
    batches_ahead = True

    def __init__(self, workload: Workload, seed: int, data_dir: str | Path | None, data_seed: int) -> None:
        self.workload = workload
        self.seed = seed
        self.z_dim = int(workload.model_kwargs["z_dim"])
        self.ds = data.load(workload.dataset, data_seed, data_dir)
        self.samples_per_step = min(workload.batch_size, len(self.ds.x_train))
        self.scorer = GanScorer(self.ds.x_train, self.ds.y_train)  # fitted once, on the real training split
        self.eval_z = self.noise(np.random.default_rng([data_seed, 1]), self.eval_samples)  # the GAN's test set

    def noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.standard_normal((n, self.z_dim), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {**self.ds.describe(), "z_dim": self.z_dim, "eval_samples": self.eval_samples}

    def batches(self, epoch: int, backend: Backend) -> Iterator[dict[str, np.ndarray]]:
        rng = np.random.default_rng([self.seed, epoch, 2])
        for idx in data.batch_order(len(self.ds.x_train), self.workload.batch_size, epoch, self.seed):
            yield {"real": self.ds.x_train[idx], "z": self.noise(rng, len(idx))}

    def evaluate(self, backend: Backend) -> dict[str, float]:
        return self.scorer.score(backend.predict(self.eval_z))

    def example_batch(self) -> dict[str, np.ndarray]:
        return next(self.batches(0, None))  # type: ignore[arg-type]

    def inference_inputs(self) -> np.ndarray:
        """The generator's test set: the fixed noise it is graded on."""
        return self.eval_z


class DqnTask:
    """DQN on a gymnasium environment. The task owns the environment, the replay buffer and the
    epsilon-greedy exploration (numpy); it acts through `backend.predict` and yields replay minibatches
    {obs, action (int64), reward, next_obs, discount, sync_target} as training batches.

    Before the first epoch, `warmup_steps` uniformly random steps fill the buffer. An epoch is then
    `env_steps_per_epoch` environment steps with one training step every `train_every` of them;
    every `target_update_every`-th training step carries sync_target=True (the twins copy q into the
    target after that step's update). Evaluation: `eval_episodes` greedy episodes from fixed seeds,
    metric `mean_return` (undiscounted). Exploration draws the same random numbers whether it explores
    or not, so the random stream does not depend on the backend; the trajectories do (greedy actions).
    """

    predict_key = "obs"
    batches_ahead = False  # acting uses the weights of the step just taken

    def __init__(self, workload: Workload, seed: int, data_dir: str | Path | None, data_seed: int) -> None:
        import gymnasium

        self.workload = workload
        self.seed = seed
        self.k = k = workload.model_kwargs
        self.samples_per_step = workload.batch_size
        self.env = gymnasium.make(k["env"])
        self.eval_envs = [gymnasium.make(k["env"]) for _ in range(k["eval_episodes"])]
        self.eval_seeds = [10_000 + 100 * data_seed + i for i in range(k["eval_episodes"])]  # the test episodes
        self.buffer = ReplayBuffer(k["buffer_size"], k["obs_dim"])
        self.explore_rng = np.random.default_rng([seed, 3])
        self.sample_rng = np.random.default_rng([seed, 4])
        self.obs, _ = self.env.reset(seed=seed)
        self.env_steps = 0  # after warm-up (the epsilon schedule's clock)
        self.train_steps = 0
        self.episode_returns: list[float] = []
        self.episode_return = 0.0
        for _ in range(k["warmup_steps"]):
            self.step_env(int(self.explore_rng.integers(k["num_actions"])))
        self.example = self.minibatch(np.random.default_rng([seed, 5]), True)

    def describe(self) -> dict[str, Any]:
        k = self.k
        return {
            "name": k["env"],
            "source": f"gymnasium {gymnasium_version()} {k['env']}",
            "obs_dim": k["obs_dim"],
            "num_actions": k["num_actions"],
            "max_episode_steps": self.env.spec.max_episode_steps if self.env.spec else None,
            "env_steps_per_epoch": k["env_steps_per_epoch"],
            "warmup_steps": k["warmup_steps"],
            "train_every": k["train_every"],
            "buffer_size": k["buffer_size"],
            "eval_episodes": k["eval_episodes"],
            "eval_seeds": self.eval_seeds,
        }

    def step_env(self, action: int) -> None:
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        discount = 0.0 if terminated else self.k["gamma"]
        self.buffer.add(self.obs, action, float(reward), next_obs, discount)
        self.episode_return += float(reward)
        if terminated or truncated:
            self.episode_returns.append(self.episode_return)
            self.episode_return = 0.0
            next_obs, _ = self.env.reset()
        self.obs = next_obs

    def act(self, backend: Backend) -> int:
        k = self.k
        eps = linear_epsilon(self.env_steps, k["eps_start"], k["eps_end"], k["eps_decay_steps"])
        explore, random_action = self.explore_rng.random() < eps, int(self.explore_rng.integers(k["num_actions"]))
        if explore:
            return random_action
        return int(np.argmax(backend.predict(self.obs[None])[0]))

    def minibatch(self, rng: np.random.Generator, sync_target: bool) -> dict[str, np.ndarray]:
        return {**self.buffer.sample(self.workload.batch_size, rng), "sync_target": np.array(sync_target)}

    def batches(self, epoch: int, backend: Backend) -> Iterator[dict[str, np.ndarray]]:
        for _ in range(self.k["env_steps_per_epoch"]):
            self.step_env(self.act(backend))
            self.env_steps += 1
            if self.env_steps % self.k["train_every"] == 0:
                self.train_steps += 1
                yield self.minibatch(self.sample_rng, self.train_steps % self.k["target_update_every"] == 0)

    def evaluate(self, backend: Backend) -> dict[str, float]:
        obs = np.stack([env.reset(seed=s)[0] for env, s in zip(self.eval_envs, self.eval_seeds, strict=True)])
        returns = np.zeros(len(self.eval_envs))
        active = np.ones(len(self.eval_envs), dtype=bool)
        while active.any():
            actions = backend.predict(obs).argmax(axis=1)  # all envs every time: one input shape
            for i in np.flatnonzero(active):
                obs[i], reward, terminated, truncated, _ = self.eval_envs[i].step(int(actions[i]))
                returns[i] += reward
                active[i] = not (terminated or truncated)
        first, recent = self.episode_returns[:10], self.episode_returns[-10:]
        return {
            "mean_return": float(returns.mean()),
            "min_return": float(returns.min()),
            "train_episodes": float(len(self.episode_returns)),
            # the first training episodes, nearly all random actions: where twins agree, these agree exactly
            "train_return_first10": float(np.mean(first)) if first else 0.0,
            "train_return_last10": float(np.mean(recent)) if recent else 0.0,
        }

    def example_batch(self) -> dict[str, np.ndarray]:
        """A replay minibatch of warm-up transitions, with sync_target set (parity exercises the sync)."""
        return dict(self.example)

    def inference_inputs(self) -> np.ndarray:
        """Observations the Q-network is asked about: the warm-up transitions' states (float32)."""
        return np.asarray(self.example["obs"], dtype=np.float32)


def causal_lm_metrics(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Next-token accuracy (argmax), mean cross-entropy and its perplexity, from flattened logits (N, vocab)
    and targets (N,), in float64 numpy (a stable log-softmax)."""
    m = classification_metrics(logits, y)
    return {
        "next_token_accuracy": m["accuracy"],
        "test_loss": m["test_loss"],
        "perplexity": float(np.exp(m["test_loss"])),
    }


class CausalLmTask(ClassifyTask):
    """Causal language modelling on a token stream (bench/core/datasets/markov.py): `x` (B, L) ids, `y` (B, L)
    the next id at each position. A model's `net(x)` gives flattened logits (B * L, vocab) and its `prepare`
    flattens `y` alike (impls/*/llama.py), so the step is the classifier's cross-entropy: the mean over every
    predicted token. Graded on the test split: next-token accuracy (the workload's metric), test loss and
    perplexity. `samples_per_step` counts sequences; `tokens_per_step` is that times the sequence length."""

    eval_batch = 16  # sequences per predict call: the logits of a 49152-id vocabulary are 25 MiB a sequence

    def __init__(self, workload: Workload, seed: int, data_dir: str | Path | None, data_seed: int) -> None:
        super().__init__(workload, seed, data_dir, data_seed)
        self.seq_len = int(self.ds.x_train.shape[1])
        k = workload.model_kwargs
        if (k.get("seq_len"), k.get("vocab_size")) != (self.seq_len, self.ds.num_classes):
            raise UsageError(
                f"{self.ds.source}: sequences of {self.seq_len} ids of {self.ds.num_classes}, but workload "
                f"{workload.name} has seq_len {k.get('seq_len')} and vocab_size {k.get('vocab_size')}"
            )
        self.tokens_per_step = self.samples_per_step * self.seq_len

    def describe(self) -> dict[str, Any]:
        return {**self.ds.describe(), "samples_per_step_unit": "sequences", "tokens_per_step": self.tokens_per_step}

    def grade(self, predict: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
        x = self.ds.x_test
        chunks = [predict(x[i : i + self.eval_batch]) for i in range(0, len(x), self.eval_batch)]
        logits = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        return causal_lm_metrics(logits, self.ds.y_test.reshape(-1))


def gymnasium_version() -> str:
    from importlib.metadata import version

    return version("gymnasium")


TASKS = {"classify": ClassifyTask, "gan": GanTask, "dqn": DqnTask, "causal_lm": CausalLmTask}


def make(workload: Workload, seed: int, data_dir: str | Path | None = None, data_seed: int | None = None) -> Task:
    """The workload's task: `seed` drives training randomness (batch order, noise, exploration),
    `data_seed` (default: `seed`) the data itself (split, synthetic generation, evaluation episodes),
    so that runs with several seeds are graded on the same test set."""
    return TASKS[workload.task](workload, seed, data_dir, seed if data_seed is None else data_seed)
