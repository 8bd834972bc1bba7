"""A real A/A through the default procedure (issue 33): with this folder on PYTHONPATH, every process (the launcher
and each worker) starts with `torch-as-tf` registered, torch-eager under a second name that stands on the
TensorFlow side of the summary. `fwbench run --backends torch-eager torch-as-tf ...` then compares one backend with
itself under the whole default procedure (seeded order, the rule, the adaptive runs): any side it decides is a
false one. Used by hand (docs/METHODOLOGY.md, "Adaptive runs"); no test imports it."""

import dataclasses

from bench.core import backends

backends.BACKENDS["torch-as-tf"] = dataclasses.replace(
    backends.BACKENDS["torch-eager"],
    name="torch-as-tf",
    framework="tensorflow",
    module="tests.variant_backend",
    cls="TorchEagerVariant",
    label="torch-eager as TensorFlow (A/A)",
    tier="tuned",
    default_on=(),
    exports=False,
)
