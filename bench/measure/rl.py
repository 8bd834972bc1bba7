"""Reinforcement-learning pieces of the DQN task, in numpy: the replay buffer and the exploration schedule.

Nothing here depends on a framework: both backends train on the same kind of minibatches, and the
acting network is reached only through `backend.predict` (bench/measure/tasks.py DqnTask).
"""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    """A ring buffer of transitions (obs, action, reward, next_obs, discount), sampled uniformly.

    `discount` is gamma where the episode goes on (also after a time-limit truncation, which is not a
    terminal state) and 0 where it terminated, so the TD target is reward + discount * max Q_target.
    """

    def __init__(self, capacity: int, obs_dim: int) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.discount = np.zeros(capacity, np.float32)
        self.size = 0
        self.cursor = 0

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, discount: float) -> None:
        i = self.cursor
        self.obs[i], self.action[i], self.reward[i], self.next_obs[i], self.discount[i] = (
            obs,
            action,
            reward,
            next_obs,
            discount,
        )
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Uniform over stored transitions, with replacement."""
        idx = rng.integers(0, self.size, batch_size)
        return {
            "obs": self.obs[idx],
            "action": self.action[idx],
            "reward": self.reward[idx],
            "next_obs": self.next_obs[idx],
            "discount": self.discount[idx],
        }


def linear_epsilon(step: int, start: float, end: float, decay_steps: int) -> float:
    """Exploration rate: `start` at step 0, linearly to `end` at `decay_steps`, then `end`."""
    if step >= decay_steps:
        return end
    return start + (end - start) * step / decay_steps
