"""One module per scenario, each with one entry `measure(cfg) -> Result`: bench/scenarios/<name>.py for every
name of bench.core.spec.SCENARIOS (train, infer, export, distributed, pipeline, profile).

SCENARIOS is the worker's table of them. Each entry imports its module at its first call, so that a worker
imports only the scenario it runs (the pipeline scenario's psutil and Pillow, the coordinator's subprocess
machinery), and the worker's start stays as light as its job.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from bench.core import spec
from bench.core.spec import RunConfig
from bench.records.results import Result


def _imported(module: str) -> Callable[[RunConfig], Result]:
    """The entry `measure` of `module`, imported at the first call."""

    def measure(cfg: RunConfig) -> Result:
        return importlib.import_module(module).measure(cfg)

    return measure


SCENARIOS: Mapping[str, Callable[[RunConfig], Result]] = {
    name: _imported(f"bench.scenarios.{name}") for name in spec.SCENARIOS
}


def entry(name: str) -> Callable[[RunConfig], Result]:
    """What a "run" job of scenario `name` measures with; ValueError for a name with no entry."""
    if name not in SCENARIOS:
        raise ValueError(f"scenario {name!r} has no worker entry")
    return SCENARIOS[name]
