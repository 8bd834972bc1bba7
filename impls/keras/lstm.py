"""Sentiment LSTM: Embedding -> `layers` stacked keras LSTMs (default 1; every one but the last returns its
sequence) -> the last one's last state -> Dropout -> Dense logits. Twin: impls/torch/lstm.py.

Gate order i, f, c, o equals torch's i, f, g, o; activation (tanh, from the workload) and
recurrent_activation (sigmoid) are set explicitly. Keras' one bias (4H) per layer is trained; the torch
twin zeroes and freezes its second biases (b_hh), so both train and count the same parameters. No dropout
between the stacked layers (as nn.LSTM's dropout=0 there). Layer 0 is named "lstm", layer k "lstm_l{k}".
use_cudnn="auto": on a GPU keras takes the cuDNN kernel (as torch does) when the activations allow
it; on the CPU it runs the generic step function in a tf.while_loop, which XLA compiles.
"""

from __future__ import annotations

import keras

from bench.core.spec import Workload
from impls.keras.weights import LayerMap

# as impls/torch/lstm.py (layer 0 only, as there): Keras' one bias = b_ih + b_hh
PARITY_FOLDS = {"net.lstm.bias_hh_l0": "net.lstm.bias_ih_l0"}


def lstm_name(k: int) -> str:
    return "lstm" if k == 0 else f"lstm_l{k}"


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    inp = keras.Input((k["seq_len"],), dtype="int32", name="x")
    h = keras.layers.Embedding(k["vocab_size"], k["embed_dim"], name="embedding")(inp)
    layers = k.get("layers", 1)
    for i in range(layers):
        h = keras.layers.LSTM(
            k["hidden"],
            activation=k["activation"],
            recurrent_activation="sigmoid",
            use_bias=True,
            return_sequences=i < layers - 1,
            unroll=False,
            use_cudnn="auto",
            name=lstm_name(i),
        )(h)
    h = keras.layers.Dropout(k["dropout"], name="dropout")(h)
    out = keras.layers.Dense(k["num_classes"], name="fc")(h)
    return {"net": keras.Model(inp, out, name="lstm_classifier")}


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    net = parts["net"]
    layers = sum(isinstance(layer, keras.layers.LSTM) for layer in net.layers)
    return [
        LayerMap("net.embedding", net.get_layer("embedding"), "embedding"),
        *(LayerMap("net.lstm", net.get_layer(lstm_name(i)), "lstm", {"layer": i}) for i in range(layers)),
        LayerMap("net.fc", net.get_layer("fc"), "dense"),
    ]
