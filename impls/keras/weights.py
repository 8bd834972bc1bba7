"""Canonical (torch-layout) weights <-> keras layer weights, one rule per layer kind.

The canonical layout is the torch twin's state_dict: names like "net.0.weight" and torch shapes.
A keras model module lists its layers with `layer_map(parts) -> list[LayerMap]`; the rules here
do the conversion (docs/FRAMEWORK_DIFFERENCES.md has the table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LayerMap:
    prefix: str  # canonical name prefix, e.g. "net.0"
    layer: Any  # the keras layer
    kind: str  # key of RULES
    # rule options, e.g. {"chw": (C, H, W)} or {"cl": (C, L)} for a Dense after a Flatten (the dense rule)
    extra: Mapping[str, Any] = field(default_factory=dict)


def _flattened(extra: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The channels-first shape (C, *spatial) a torch Flatten flattened before this Linear: extra["chw"]
    (C, H, W) after a 2-D feature map, extra["cl"] (C, L) after a 1-D one; None if neither."""
    shape = extra.get("chw", extra.get("cl"))
    return None if shape is None else tuple(int(d) for d in shape)


def _dense_to(w: Mapping[str, np.ndarray], p: str, extra: Mapping[str, Any]) -> list[np.ndarray]:
    kernel = w[f"{p}.weight"].T
    flat = _flattened(extra)
    if flat is not None:  # Linear after torch Flatten of (N, C, *S) -> Dense after keras Flatten of (N, *S, C)
        out, rank = w[f"{p}.weight"].shape[0], len(flat)
        kernel = (
            w[f"{p}.weight"].reshape(out, *flat).transpose(*range(2, rank + 1), 1, 0).reshape(int(np.prod(flat)), out)
        )
    if "out_chw" in extra:  # Linear before torch Unflatten to (C, H, W) -> Dense before keras Reshape to (H, W, C)
        c, h, wd = extra["out_chw"]
        kernel = w[f"{p}.weight"].reshape(c, h, wd, -1).transpose(3, 1, 2, 0).reshape(-1, h * wd * c)
        return [kernel, w[f"{p}.bias"].reshape(c, h, wd).transpose(1, 2, 0).reshape(-1)]
    return [kernel, w[f"{p}.bias"]]


def _dense_from(ws: list[np.ndarray], p: str, extra: Mapping[str, Any]) -> dict[str, np.ndarray]:
    kernel, bias = ws
    flat = _flattened(extra)
    if flat is not None:
        out, rank = kernel.shape[1], len(flat)
        weight = kernel.reshape(*flat[1:], flat[0], out).transpose(rank, rank - 1, *range(rank - 1)).reshape(out, -1)
    elif "out_chw" in extra:
        c, h, wd = extra["out_chw"]
        weight = kernel.reshape(-1, h, wd, c).transpose(3, 1, 2, 0).reshape(c * h * wd, -1)
        bias = bias.reshape(h, wd, c).transpose(2, 0, 1).reshape(-1)
    else:
        weight = kernel.T
    return {f"{p}.weight": weight, f"{p}.bias": bias}


def _conv_to(w: Mapping[str, np.ndarray], p: str, extra: Mapping[str, Any]) -> list[np.ndarray]:
    weight = w[f"{p}.weight"]  # (O, I, *K)
    kernel = np.moveaxis(weight, (0, 1), (-1, -2))  # (*K, I, O)
    return [kernel, w[f"{p}.bias"]] if f"{p}.bias" in w else [kernel]


def _conv_from(ws: list[np.ndarray], p: str, extra: Mapping[str, Any]) -> dict[str, np.ndarray]:
    out = {f"{p}.weight": np.moveaxis(ws[0], (-1, -2), (0, 1))}
    if len(ws) > 1:
        out[f"{p}.bias"] = ws[1]
    return out


def _conv_transpose_to(w: Mapping[str, np.ndarray], p: str, extra: Mapping[str, Any]) -> list[np.ndarray]:
    # torch ConvTranspose2d weight (I, O, kH, kW) -> keras Conv2DTranspose kernel (kH, kW, O, I); no flip:
    # both are the adjoint of the same cross-correlation.
    return [w[f"{p}.weight"].transpose(2, 3, 1, 0), w[f"{p}.bias"]]


def _conv_transpose_from(ws: list[np.ndarray], p: str, extra: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {f"{p}.weight": ws[0].transpose(3, 2, 0, 1), f"{p}.bias": ws[1]}


def _copy_to(names: tuple[str, ...]) -> Callable[[Mapping[str, np.ndarray], str, Mapping[str, Any]], list[np.ndarray]]:
    return lambda w, p, extra: [w[f"{p}.{n}"] for n in names]


def _copy_from(names: tuple[str, ...]) -> Callable[[list[np.ndarray], str, Mapping[str, Any]], dict[str, np.ndarray]]:
    return lambda ws, p, extra: {f"{p}.{n}": v for n, v in zip(names, ws, strict=True)}


def _lstm_to(w: Mapping[str, np.ndarray], p: str, extra: Mapping[str, Any]) -> list[np.ndarray]:
    # torch gates i, f, g, o == keras i, f, c, o: no reordering; keras has one bias = b_ih + b_hh.
    # extra["layer"] = k: the keras LSTM mirrors layer k of a stacked nn.LSTM (its *_l{k} tensors); default 0.
    k = extra.get("layer", 0)
    return [w[f"{p}.weight_ih_l{k}"].T, w[f"{p}.weight_hh_l{k}"].T, w[f"{p}.bias_ih_l{k}"] + w[f"{p}.bias_hh_l{k}"]]


def _lstm_from(ws: list[np.ndarray], p: str, extra: Mapping[str, Any]) -> dict[str, np.ndarray]:
    kernel, recurrent, bias = ws
    k = extra.get("layer", 0)
    return {
        f"{p}.weight_ih_l{k}": kernel.T,
        f"{p}.weight_hh_l{k}": recurrent.T,
        f"{p}.bias_ih_l{k}": bias,
        f"{p}.bias_hh_l{k}": np.zeros_like(bias),
    }


def _batchnorm_to(w: Mapping[str, np.ndarray], p: str, extra: Mapping[str, Any]) -> list[np.ndarray]:
    if f"{p}.num_batches_tracked" in w:  # torch's step counter (for momentum=None): no keras counterpart
        w[f"{p}.num_batches_tracked"]  # read, so that it does not count as unused
    return _copy_to(("weight", "bias", "running_mean", "running_var"))(w, p, extra)


def _kernel_to(w: Mapping[str, np.ndarray], p: str, extra: Mapping[str, Any]) -> list[np.ndarray]:
    # a bias-free torch Linear (out, in) -> a keras kernel of shape extra["shape"] whose first extra["in_dims"]
    # axes hold `in` (a Dense: (in, out); keras-hub's attention EinsumDense: (in, heads, head_dim) or (heads,
    # head_dim, out))
    return [w[f"{p}.weight"].T.reshape(extra["shape"])]


def _kernel_from(ws: list[np.ndarray], p: str, extra: Mapping[str, Any]) -> dict[str, np.ndarray]:
    (kernel,) = ws
    return {f"{p}.weight": kernel.reshape(int(np.prod(kernel.shape[: extra["in_dims"]])), -1).T}


def _reversible_embedding_to(w: Mapping[str, np.ndarray], p: str, extra: Mapping[str, Any]) -> list[np.ndarray]:
    # keras-hub's ReversibleEmbedding, untied: the input embedding (vocab, d) and the output layer's kernel
    # (d, vocab), which torch holds as the Linear extra["reverse"] (vocab, d)
    return [w[f"{p}.weight"], w[f"{extra['reverse']}.weight"].T]


def _reversible_embedding_from(ws: list[np.ndarray], p: str, extra: Mapping[str, Any]) -> dict[str, np.ndarray]:
    embeddings, reverse = ws
    return {f"{p}.weight": embeddings, f"{extra['reverse']}.weight": reverse.T}


# kind -> (canonical -> keras weight list, keras weight list -> canonical)
RULES: dict[str, tuple[Callable[..., list[np.ndarray]], Callable[..., dict[str, np.ndarray]]]] = {
    "dense": (_dense_to, _dense_from),
    "conv": (_conv_to, _conv_from),  # Conv1D / Conv2D: OI(K) -> (K)IO
    "conv_transpose": (_conv_transpose_to, _conv_transpose_from),  # ConvTranspose2d -> Conv2DTranspose: IOHW -> HWOI
    "embedding": (_copy_to(("weight",)), _copy_from(("weight",))),
    "layernorm": (_copy_to(("weight", "bias")), _copy_from(("weight", "bias"))),
    "batchnorm": (
        _batchnorm_to,
        _copy_from(("weight", "bias", "running_mean", "running_var")),
    ),
    "lstm": (_lstm_to, _lstm_from),
    "kernel": (_kernel_to, _kernel_from),  # a bias-free Linear -> Dense / EinsumDense kernel (keras-hub)
    "rmsnorm": (_copy_to(("weight",)), _copy_from(("weight",))),  # RMSNorm's scale (keras-hub: `scale`)
    "reversible_embedding": (_reversible_embedding_to, _reversible_embedding_from),  # keras-hub, untied
}


def rule(m: LayerMap) -> tuple[Callable[..., list[np.ndarray]], Callable[..., dict[str, np.ndarray]]]:
    """The (to keras, from keras) pair of `m`'s kind; a kind RULES lacks is a ValueError naming it."""
    try:
        return RULES[m.kind]
    except KeyError:
        raise ValueError(
            f"layer map {m.prefix}: weight rule kind {m.kind!r} is not one of {', '.join(RULES)} "
            "(impls/keras/weights.py RULES)"
        ) from None


class Reads(Mapping[str, np.ndarray]):
    """A read-only view of the canonical weights that remembers which names the rules read."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            value = self.weights[key]
        except KeyError:
            raise ValueError(f"canonical weights lack {key!r}") from None
        self.read.add(key)
        return value

    def __contains__(self, key: object) -> bool:  # a rule's `name in w` (Mapping's own needs a KeyError)
        return key in self.weights

    def __iter__(self) -> Iterator[str]:
        return iter(self.weights)

    def __len__(self) -> int:
        return len(self.weights)


def set_canonical(maps: list[LayerMap], weights: Mapping[str, np.ndarray], models: Iterable[Any] = ()) -> None:
    """Load canonical weights into the mapped keras layers. Fails loudly (ValueError naming them) when a
    canonical weight is read by no layer rule, or when a trainable weight of `models` is in no mapped
    layer: such a weight would keep Keras' own initialisation and `--init shared` would share nothing;
    and before touching a layer, when a map names a rule kind RULES lacks."""
    for m in maps:
        rule(m)
    mapped = {id(v) for m in maps for v in m.layer.weights}
    uncovered = [v.path for model in models for v in model.trainable_weights if id(v) not in mapped]
    if uncovered:
        raise ValueError(f"the layer map covers no canonical weights for keras weights {uncovered}")
    reads = Reads(weights)
    for m in maps:
        to_keras, _ = rule(m)
        values = to_keras(reads, m.prefix, m.extra)
        current = m.layer.get_weights()
        if [v.shape for v in current] != [np.shape(v) for v in values]:
            raise ValueError(
                f"{m.prefix} ({m.kind}): keras shapes {[v.shape for v in current]} "
                f"!= mapped {[np.shape(v) for v in values]}"
            )
        m.layer.set_weights([np.asarray(v, dtype=c.dtype) for v, c in zip(values, current, strict=True)])
    unused = sorted(set(weights) - reads.read)
    if unused:
        raise ValueError(f"canonical weights {unused} are used by no keras layer (the layer map lacks them)")


def get_canonical(maps: list[LayerMap]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for m in maps:
        _, from_keras = rule(m)
        out.update(from_keras(m.layer.get_weights(), m.prefix, m.extra))
    return out
