"""Sentiment LSTM: Embedding -> keras LSTM (last state) -> Dropout -> Dense logits. Twin: impls/torch/lstm.py.

Gate order i, f, c, o equals torch's i, f, g, o; activation (tanh, from the workload) and
recurrent_activation (sigmoid) are set explicitly. Keras' one bias (4H) is trained; the torch twin
zeroes and freezes its second bias (b_hh), so both train and count the same parameters.
use_cudnn="auto": on a GPU keras takes the cuDNN kernel (as torch does) when the activations allow
it; on the CPU it runs the generic step function in a tf.while_loop, which XLA compiles.
"""

from __future__ import annotations

import keras

from bench.spec import Workload
from impls.keras.weights import LayerMap

PARITY_FOLDS = {"net.lstm.bias_hh_l0": "net.lstm.bias_ih_l0"}  # as impls/torch/lstm.py: Keras' one bias = b_ih + b_hh


def build(workload: Workload) -> dict[str, keras.Model]:
    k = workload.model_kwargs
    inp = keras.Input((k["seq_len"],), dtype="int32", name="x")
    e = keras.layers.Embedding(k["vocab_size"], k["embed_dim"], name="embedding")(inp)
    h = keras.layers.LSTM(
        k["hidden"],
        activation=k["activation"],
        recurrent_activation="sigmoid",
        use_bias=True,
        return_sequences=False,
        unroll=False,
        use_cudnn="auto",
        name="lstm",
    )(e)
    h = keras.layers.Dropout(k["dropout"], name="dropout")(h)
    out = keras.layers.Dense(k["num_classes"], name="fc")(h)
    return {"net": keras.Model(inp, out, name="lstm_classifier")}


def layer_map(parts: dict[str, keras.Model]) -> list[LayerMap]:
    net = parts["net"]
    return [
        LayerMap("net.embedding", net.get_layer("embedding"), "embedding"),
        LayerMap("net.lstm", net.get_layer("lstm"), "lstm"),
        LayerMap("net.fc", net.get_layer("fc"), "dense"),
    ]
