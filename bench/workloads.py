"""The workloads: framework-neutral specs, every hyperparameter explicit.

Adding a workload = one entry here (with its ParityCase) + impls/torch/<model>.py +
impls/keras/<model>.py, and for a new model family its FLOPs in bench/flops.py
(docs/ADDING_A_WORKLOAD.md; tests/test_completeness.py says what is missing).
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.errors import UsageError
from bench.spec import OptimizerSpec, ParityCase, Workload

MLP_IRIS = Workload(
    name="mlp-iris",
    model="mlp",
    task="classify",
    dataset="iris",
    batch_size=120,  # full batch: the whole 80% training split
    epochs=100,
    quick_epochs=100,
    optimizer=OptimizerSpec("adam", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=0.9,
    model_kwargs={"in_features": 4, "hidden": 16, "num_classes": 3, "activation": "relu"},
    description="The seed's Iris network: 4 -> 16 ReLU -> 3 logits, full batch",
    seed_use_case="Iris classification example",
    parity=ParityCase(131, weights_tol=1e-5),  # (4*16 + 16) + (16*3 + 3) = 80 + 51
)

LSTM_SENTIMENT = Workload(
    name="lstm-sentiment",
    model="lstm",
    task="classify",
    dataset="text",
    batch_size=128,
    epochs=4,
    quick_epochs=1,
    optimizer=OptimizerSpec("adam", lr=0.005, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=0.95,
    model_kwargs={
        "vocab_size": 1000,  # bench/datasets/text.py VOCAB_SIZE
        "seq_len": 16,  # bench/datasets/text.py SEQ_LEN, pre-padded, no masking
        "embed_dim": 32,
        "hidden": 64,
        "num_classes": 2,
        "activation": "tanh",  # the LSTM cell activation (nn.LSTM: tanh only); gates sigmoid on both sides
        "dropout": 0.1,  # on the last hidden state, before the classifier
    },
    description="Embedding(1000, 32) -> LSTM(64), last hidden state -> Dense(2) logits; torch's b_hh zeroed, frozen",
    seed_use_case="Sentiment analysis: LSTM + Embedding + Dense",
    quick_speed_only=True,  # quick profile: one epoch: the 0.95 target is reached or missed by a handful of test sentences
    # embedding 1000*32 + LSTM (4*64*32 + 4*64*64 + 4*64) + fc (64*2 + 2) = 32000 + 24832 + 130: one 4H bias, as
    # torch's b_hh is zeroed and frozen. Embedding rows are N(0, 1) (|w| up to ~4.5, float32 spacing 4.8e-7):
    # they end up a few ulps apart (seen 7e-7..1.7e-6; all other weights < 2e-8), so the weight tolerance is
    # 5e-6, still far below the ~6e-5 by which the step moves them. Mutant: relu (the LSTM's own is tanh).
    parity=ParityCase(56962, weights_tol=5e-6, mutant_activation="relu"),
)

TRANSFORMER_TEXT = Workload(
    name="transformer-text",
    model="transformer",
    task="classify",
    dataset="text",
    batch_size=128,
    epochs=8,  # the 0.9 target is reached in epochs 4-6 (the encoder needs ~600 steps to learn negation)
    quick_epochs=1,
    optimizer=OptimizerSpec("adam", lr=0.002, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=0.9,
    model_kwargs={
        "vocab_size": 1000,  # bench/datasets/text.py VOCAB_SIZE
        "seq_len": 16,  # bench/datasets/text.py SEQ_LEN; learned positions; padding masked (keys and mean)
        "d_model": 64,
        "heads": 4,
        "ff": 128,
        "layers": 2,
        "num_classes": 2,
        "activation": "gelu",  # exact (erf) GELU on both sides
        "layernorm_eps": 1e-5,  # keras' default is 1e-3
        "dropout": 0.1,  # embeddings, attention probabilities, residual branches, pooled output
    },
    description="BERT-style encoder: token + position embeddings, 2 post-LN layers (d 64, 4 heads, ff 128, GELU), "
    "mean over tokens -> Dense(2) logits",
    seed_use_case="NLP & Transformers: BERT",
    quick_speed_only=True,  # quick profile: one epoch: the encoder reaches 0.9 in epochs 4-6
    # token 1000*64 + position 16*64 + LayerNorm 2*64 + 2 layers * (4 * (64*64 + 64) + 2 * 2*64 + (64*128 + 128)
    # + (128*64 + 64)) + fc (64*2 + 2) = 64000 + 1024 + 128 + 2*33472 + 130. Embedding weights as for the
    # LSTM (seen 9.5e-7..1.5e-6; all other weights < 2e-8).
    parity=ParityCase(132226, weights_tol=5e-6),
)

CNN_DIGITS = Workload(
    name="cnn-digits",
    model="cnn",
    task="classify",
    dataset="digits",  # real 8x8 handwritten digits embedded in scikit-learn, NHWC in [0, 1]
    batch_size=32,
    epochs=20,
    quick_epochs=12,  # cheap (~2 ms steps): the quick profile reaches the target too
    optimizer=OptimizerSpec("adam", lr=0.002, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=0.95,
    model_kwargs={
        "in_shape": (8, 8, 1),  # H, W, C
        "channels": (16, 32),
        "kernel_size": 3,
        "padding": "same",  # stride 1: identical in both frameworks
        "pool_size": 2,
        "hidden": 64,
        "num_classes": 10,
        "activation": "relu",
    },
    description="Small CNN on scikit-learn's digits: 2 x (conv 3x3 same -> ReLU -> max-pool 2) -> 64 -> 10",
    seed_use_case="Image classification: CNNs",
    # conv1 (1*16*9 + 16) + conv2 (16*32*9 + 32) + fc1 (2*2*32*64 + 64) + fc2 (64*10 + 10) = 160 + 4640 + 8256 + 650.
    # fc1 follows Flatten: its rows are reordered CHW -> HWC (seen: outputs 3e-8, weights 7e-9).
    parity=ParityCase(13706),
)

CNN_CIFAR10 = Workload(
    name="cnn-cifar10",
    model="cnn",
    task="classify",
    dataset="cifar10",  # seeded synthetic 32x32x3 by default; the official binary files with --data-dir
    batch_size=64,
    epochs=8,
    quick_epochs=2,  # the costliest step of the suite: the quick profile shows speed, not the target
    optimizer=OptimizerSpec("adam", lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=0.8,
    model_kwargs={
        "in_shape": (32, 32, 3),
        "channels": (32, 64),
        "kernel_size": 3,
        "padding": "same",
        "pool_size": 2,
        "hidden": 128,
        "num_classes": 10,
        "activation": "relu",
    },
    description="The seed's CIFAR-10 CNN: conv 32 -> pool -> conv 64 -> pool -> 128 -> 10",
    seed_use_case="Image classifier on CIFAR-10: CNN with Conv2D, Pooling, ReLU",
    quick_speed_only=True,  # quick profile: two epochs: below the 0.8 target in every backend
    # conv1 (3*32*9 + 32) + conv2 (32*64*9 + 64) + fc1 (8*8*64*128 + 128) + fc2 (128*10 + 10)
    # = 896 + 18496 + 524416 + 1290 (seen: outputs 2e-7, weights 1.5e-8).
    parity=ParityCase(545098),
)

CONV1D_AUDIO = Workload(
    name="conv1d-audio",
    model="conv1d",
    task="classify",
    dataset="audio",  # seeded synthetic keyword clips by default; <label>/*.wav at 8 kHz with --data-dir
    batch_size=32,
    epochs=12,
    quick_epochs=6,
    optimizer=OptimizerSpec("adam", lr=0.002, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=0.9,
    model_kwargs={
        "in_samples": 4000,  # 0.5 s at 8 kHz: bench/datasets/audio.py CLIP_SAMPLES
        "channels": (16, 32, 64),
        "kernel_sizes": (32, 5, 5),
        "strides": (8, 1, 1),  # 'valid' padding: strided 'same' pads differently in the two frameworks
        "pool_sizes": (4, 4, 1),  # max-pool after each conv; 1 = none
        "num_classes": 8,
        "activation": "relu",
    },
    description="1-D CNN on raw waveforms: 3 valid convs (first strided), max-pooling, global average pool, 8 logits",
    seed_use_case="Audio analysis: speaker detection",
    # conv1 (1*16*32 + 16) + conv2 (16*32*5 + 32) + conv3 (32*64*5 + 64) + fc (64*8 + 8)
    # = 528 + 2592 + 10304 + 520; channels-last input transposed to NCL on the torch side (seen: 3e-8, 7e-9).
    parity=ParityCase(13944),
)

DCGAN_DIGITS = Workload(
    name="dcgan-digits",
    model="dcgan",
    task="gan",
    dataset="digits",  # only the real training images are used (and their labels, by the quality scorer)
    batch_size=64,  # real images per step; as many noise vectors
    epochs=40,
    quick_epochs=2,
    optimizer=OptimizerSpec("adam", lr=0.001, beta1=0.5, beta2=0.999, eps=1e-8),  # one per network
    loss="bce_with_logits: d_loss (real -> 1, fake -> 0) + non-saturating g_loss (fake -> 1)",
    metric="gan_quality",
    target=0.8,  # bench/gan_quality.py; real test digits score 0.96. Reached at epoch 24-27, both frameworks, seeds 0-2
    model_kwargs={
        "z_dim": 32,
        "g_channels": 32,  # generator: Dense -> 4x4x32 -> transposed conv up to 8x8x1
        "d_channels": (16, 32),  # discriminator: 8x8x1 -> 4x4x16 -> 2x2x32 -> Dense logit
        "kernel": 4,
        "stride": 2,
        "padding": 1,  # torch padding 1 == keras 'same' for kernel 4, stride 2 (k - s == 2p)
        "leaky_slope": 0.2,  # discriminator LeakyReLU (torch default 0.01, keras 0.2: explicit)
        "activation": "relu",  # generator hidden activation
    },
    description="DCGAN on scikit-learn's 8x8 digits: Dense + transposed conv -> sigmoid; 2 strided convs -> logit",
    seed_use_case="GAN image generator",
    quick_speed_only=True,  # quick profile: two epochs: gan_quality is about 0 in every backend
    # generator (32*512 + 512) + (32*1*16 + 1) = 16896 + 513, discriminator (1*16*16 + 16) + (16*32*16 + 32)
    # + (128 + 1) = 272 + 8224 + 129. One step updates D, then G through the new D; G moves by ~1e-5..1e-3
    # under SGD 0.1, so the weight tolerance is 1e-6.
    parity=ParityCase(26034),
)

DQN_CARTPOLE = Workload(
    name="dqn-cartpole",
    model="dqn",
    task="dqn",
    dataset="CartPole-v1",  # a gymnasium environment, not a bench.data dataset (model_kwargs["env"])
    batch_size=128,  # replay transitions per training step
    epochs=6,  # an epoch is env_steps_per_epoch environment steps
    quick_epochs=1,
    optimizer=OptimizerSpec("adam", lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="huber (delta 1) on the TD error",
    metric="mean_return",
    target=195.0,  # reached in epoch 1 by all five backends (seed 0); DQN's return then swings, often lower
    model_kwargs={
        "env": "CartPole-v1",
        "obs_dim": 4,
        "num_actions": 2,
        "hidden": 64,
        "activation": "relu",
        "gamma": 0.99,
        "buffer_size": 20_000,
        "warmup_steps": 1000,  # uniformly random steps that fill the buffer before the first epoch
        "env_steps_per_epoch": 1000,
        "train_every": 1,  # environment steps per training step
        "target_update_every": 100,  # training steps between target <- q
        "eps_start": 1.0,
        "eps_end": 0.05,
        "eps_decay_steps": 5000,  # environment steps after warm-up
        "eval_episodes": 10,  # greedy, from fixed seeds, run side by side
    },
    description="DQN on CartPole-v1: MLP 4 -> 64 -> 64 -> 2 Q-values, target network, replay, epsilon-greedy",
    seed_use_case="Reinforcement learning: agents, gym environments, Q-learning",
    # q only (the target is a copy): (4*64 + 64) + (64*64 + 64) + (64*2 + 2) = 320 + 4160 + 130. The example
    # batch sets sync_target: a twin that skipped the target <- q copy would differ in target.* by ~1e-3.
    parity=ParityCase(4610),
)

WORKLOADS: Mapping[str, Workload] = {
    w.name: w
    for w in (
        MLP_IRIS,
        LSTM_SENTIMENT,
        TRANSFORMER_TEXT,
        CNN_DIGITS,
        CNN_CIFAR10,
        CONV1D_AUDIO,
        DCGAN_DIGITS,
        DQN_CARTPOLE,
    )
}


def get(name: str) -> Workload:
    if name not in WORKLOADS:
        raise UsageError(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
    return WORKLOADS[name]
