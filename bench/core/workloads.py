"""The workloads: framework-neutral specs, every hyperparameter explicit.

Adding a workload = one entry here (with its ParityCase) + impls/torch/<model>.py +
impls/keras/<model>.py, and for a new model family its FLOPs in bench/core/flops.py
(docs/ADDING_A_WORKLOAD.md; tests/test_completeness.py says what is missing).
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.core.errors import UsageError
from bench.core.spec import OptimizerSpec, ParityCase, Workload

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
        "vocab_size": 1000,  # bench/core/datasets/text.py VOCAB_SIZE
        "seq_len": 16,  # bench/core/datasets/text.py SEQ_LEN, pre-padded, no masking
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

LSTM_BASE_TEXT = Workload(
    name="lstm-base-text",
    model="lstm",
    task="classify",
    dataset="text-bert",  # the BERT-shape synthetic sequences (128 tokens of 30522): the same task as bert-base-text
    batch_size=32,  # as bert-base-text: the same steps per epoch on the same data
    epochs=3,
    quick_epochs=1,
    optimizer=OptimizerSpec("adam", lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="cross_entropy",
    metric="accuracy",
    target=None,  # a base workload: speed on a step budget; accuracy is recorded, no target is claimed
    model_kwargs={
        "vocab_size": 30522,  # bench/core/datasets/tokens.py VOCAB_SIZE
        "seq_len": 128,  # bench/core/datasets/tokens.py SEQ_LEN, pre-padded, no masking
        "embed_dim": 512,  # = hidden, as the classic 2-layer LSTM language models (Zaremba et al. 2014)
        "hidden": 512,
        "layers": 2,  # stacked, no dropout between them (nn.LSTM dropout 0)
        "num_classes": 2,
        "activation": "tanh",  # the LSTM cell activation (nn.LSTM: tanh only); gates sigmoid on both sides
        "dropout": 0.1,  # on the last hidden state, before the classifier
    },
    description="Embedding(30522, 512) -> 2 x LSTM(512), last hidden state -> Dense(2) logits, 128 tokens; "
    "torch's b_hh zeroed, frozen",
    seed_use_case="Sentiment analysis: LSTM + Embedding + Dense",
    quick_speed_only=True,
    scale="base",
    # embedding 30522*512 + layer 0 (4*512*512 + 4*512*512 + 4*512) + layer 1 (4*512*512 + 4*512*512 + 4*512)
    # + fc (512*2 + 2) = 15627264 + 2099200 + 2099200 + 1026: one 4H bias per layer (torch's b_hh zeroed and
    # frozen). Full size, 4 sequences of 128 tokens (seen: outputs 2e-8..4e-8, embedding 6e-8..2.4e-7, other
    # weights 4e-9). Mutant: relu. bf16 forward: the logits are ~0.04, so the tolerance is 0.01 absolute, not the
    # default 0.05 (seen 2e-4..5e-4; torch's LSTM without oneDNN on a CPU without AVX512, impls/torch/lstm.py).
    parity=ParityCase(19826690, weights_tol=5e-6, mutant_activation="relu", batch_size=4, bf16_outputs_tol=0.01),
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
        "vocab_size": 1000,  # bench/core/datasets/text.py VOCAB_SIZE
        "seq_len": 16,  # bench/core/datasets/text.py SEQ_LEN; learned positions; padding masked (keys and mean)
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

BERT_BASE_TEXT = Workload(
    name="bert-base-text",
    model="transformer",
    task="classify",
    dataset="text-bert",  # synthetic sequences of BERT's shape: 128 token ids of 30522 (bench/core/datasets/tokens.py)
    batch_size=32,  # the Keras 3 benchmarks' BERT batch; BERT's fine-tuning batch (Devlin et al. 2019, A.3)
    epochs=3,  # BERT's fine-tuning recipe: 3 epochs at lr 2e-5 (without its warm-up and linear decay)
    quick_epochs=1,
    # BERT's optimizer: AdamW, betas 0.9 / 0.999, eps 1e-6, decoupled weight decay 0.01 (here on every weight,
    # on both sides; BERT exempts LayerNorm and biases)
    optimizer=OptimizerSpec("adamw", lr=2e-5, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.01),
    loss="cross_entropy",
    metric="accuracy",
    target=None,  # a base workload: speed on a step budget; accuracy is recorded, no target is claimed
    model_kwargs={
        "vocab_size": 30522,  # bench/core/datasets/tokens.py VOCAB_SIZE (BERT's WordPiece vocabulary)
        "seq_len": 128,  # bench/core/datasets/tokens.py SEQ_LEN; learned positions; padding masked (keys and mean)
        "d_model": 768,
        "heads": 12,
        "ff": 3072,
        "layers": 12,
        "num_classes": 2,
        "activation": "gelu",  # exact (erf) GELU on both sides, as BERT's
        "layernorm_eps": 1e-12,  # BERT's; keras' default is 1e-3, torch's 1e-5 (no clamp on either side)
        "dropout": 0.1,  # BERT's: embeddings, attention probabilities, residual branches; and the pooled output
    },
    description="BERT-base encoder: token + position embeddings, 12 post-LN layers (d 768, 12 heads, ff 3072, GELU), "
    "128 tokens of 30522, mean over tokens -> Dense(2) logits (no token-type embeddings, no pooler)",
    seed_use_case="NLP & Transformers: BERT",
    quick_speed_only=True,
    scale="base",
    # At 2 of the 12 layers, 4 sequences: token 30522*768 + position 128*768 + LayerNorm 2*768 + 2 layers *
    # (4 * (768*768 + 768) + 2 * 2*768 + (768*3072 + 3072) + (3072*768 + 768)) + fc (768*2 + 2)
    # = 23440896 + 98304 + 1536 + 2*7087872 + 1538 (all 12 layers: 108596738). Embedding weights as
    # transformer-text's (seen: outputs 4e-8..9e-8, token embedding up to 7.2e-7, other weights < 1e-8).
    # bf16 forward: logits ~0.14, tolerance 0.01 absolute (seen 1e-3..2e-3).
    parity=ParityCase(37718018, weights_tol=5e-6, model_kwargs={"layers": 2}, batch_size=4, bf16_outputs_tol=0.01),
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

RESNET18_CIFAR10 = Workload(
    name="resnet18-cifar10",
    model="resnet",
    task="classify",
    dataset="cifar10",  # seeded synthetic 32x32x3 by default; the official binary files with --data-dir
    batch_size=128,
    epochs=30,
    quick_epochs=1,
    optimizer=OptimizerSpec("sgd", lr=0.1, momentum=0.9),  # the standard ResNet recipe (no decay, no schedule)
    loss="cross_entropy",
    metric="accuracy",
    # No target is claimed: measured (torch-eager, seed 0, 1 thread, the synthetic set), this recipe's first
    # epoch overshoots (training loss 5.2, test loss 2e4) and the network then sits at chance through epoch 6
    # (accuracy 0.09..0.11, training loss 2.29..2.30; ~115 s an epoch). A target needs a recipe measured to
    # learn this set (a lower lr or a warm-up) first.
    target=None,
    model_kwargs={
        "block": "basic",
        "layers": (2, 2, 2, 2),
        "width": 64,
        "stem": "cifar",  # conv 3x3 stride 1 -> BN -> ReLU, no max-pool: the usual ResNet on 32x32 inputs
        "in_shape": (32, 32, 3),
        "num_classes": 10,
        "activation": "relu",  # the parity case swaps in softplus (see there)
        "bn_momentum": 0.1,  # torch's convention (weight of the batch statistic); the keras twin passes 1 - it
        "bn_eps": 1e-5,  # torch's default; keras' is 1e-3
        "zero_init_residual": False,
    },
    description="ResNet-18 (BasicBlock, v1.5) for 32x32 images: 3x3 stem, 4 stages of 2 blocks (64..512), BN, "
    "strided 3x3 convs, global average pool -> 10 logits",
    seed_use_case="Image classification: CNNs",
    quick_speed_only=True,  # quick profile: one epoch (11 steps)
    scale="base",
    # stem conv 3*64*9 + BN 2*64 = 1856; layer1 2 * (2 * 64*64*9 + 2 * 128) = 147968; layer2 (64*128*9 + 128*128*9
    # + 2 * 256 + shortcut 64*128 + 256) + (2 * 128*128*9 + 512) = 230144 + 295424; layer3 (128*256*9 + 256*256*9
    # + 1024 + 128*256 + 512) + (2 * 256*256*9 + 1024) = 919040 + 1180672; layer4 (256*512*9 + 512*512*9 + 2048
    # + 256*512 + 1024) + (2 * 512*512*9 + 2048) = 3673088 + 4720640; fc 512*10 + 10 = 5130: 11173962.
    # Full size, 8 images, with softplus in place of ReLU (both sides): ReLU's kink makes one SGD step of a deep
    # BN network chaotic in float32. A pre-activation within float32 rounding of 0 (the step's ~2.5M hold a few
    # within 2e-6) falls on either side of the kink depending on summation order, and that one element's
    # gradient, spread over its channel by BN's backward, moves the stem's weights by ~3e-4: measured with
    # ReLU, torch float32 against torch float64 differ by 3.3e-4 (3 ReLUs flipped) and keras against torch by
    # the same 3.3e-4, while outputs, loss and running statistics agree to 5e-7. Softplus is smooth (and >= 0,
    # as the zero-padded max-pool needs), so the comparison shows the twins' own difference; the elementwise
    # activation itself is the same op in both frameworks either way. Seen (keras, keras-jax, keras-torch):
    # eval outputs 3.3e-6..4.2e-6 (logits up to 2.0), loss 2.4e-7, trainable weights 1.2e-7, running_mean 3e-7,
    # running_var 3.6e-7; tolerances 5x that. A running_var fed the biased batch variance (Keras' own
    # BatchNormalization) would differ by 0.1 * var / (n - 1): 1.2e-5 * var in layer1 (n = 8 * 32 * 32), 8e-4 *
    # var in layer4 (n = 8 * 4 * 4). Mutant: BN momentum 0.9 in the keras twin (its layers then get 0.1:
    # torch's number used in keras' convention): the eval outputs (before the step) are equal, the running
    # statistics after it differ by 0.8 * (batch statistic - initial value).
    parity=ParityCase(
        11173962,
        outputs_tol=2e-5,
        weights_tol=2e-6,
        model_kwargs={"activation": "softplus"},
        batch_size=8,
        mutant_kwargs={"bn_momentum": 0.9},
    ),
)

RESNET50_IMAGENET = Workload(
    name="resnet50-imagenet",
    model="resnet",
    task="classify",
    dataset="imagenet",  # synthetic only: 224x224x3, 1000 classes, 256 training images (throughput)
    batch_size=32,
    epochs=2,  # 8 steps per epoch on the 256 synthetic images: a step budget, not a training run
    quick_epochs=1,
    optimizer=OptimizerSpec("sgd", lr=0.1, momentum=0.9),  # torchvision's reference recipe (less its decay)
    loss="cross_entropy",
    metric="accuracy",
    target=None,  # a base workload: speed on a step budget; accuracy is recorded, no target is claimed
    model_kwargs={
        "block": "bottleneck",
        "layers": (3, 4, 6, 3),
        "width": 64,
        "stem": "imagenet",  # conv 7x7 stride 2 -> BN -> ReLU -> max-pool 3x3 stride 2
        "in_shape": (224, 224, 3),
        "num_classes": 1000,
        "activation": "relu",  # the parity case swaps in softplus (see resnet18-cifar10's)
        "bn_momentum": 0.1,  # torch's convention (weight of the batch statistic); the keras twin passes 1 - it
        "bn_eps": 1e-5,  # torch's default; keras' is 1e-3
        "zero_init_residual": False,
    },
    description="ResNet-50 (Bottleneck, v1.5: stride on the 3x3 conv) at 224x224: 7x7/2 stem + max-pool, "
    "4 stages of 3, 4, 6, 3 blocks, BN, global average pool -> 1000 logits",
    seed_use_case="Image classification: CNNs",
    quick_speed_only=True,
    scale="base",
    # stem conv 3*64*49 + BN 128 = 9536; per stage (block 0 with its shortcut conv + BN, then the others; each
    # block conv1 1x1, conv2 3x3, conv3 1x1 (x4), a BN after each): layer1 75008 + 2 * 70400 = 215808; layer2
    # 379392 + 3 * 280064 = 1219584; layer3 1512448 + 5 * 1117184 = 7098368; layer4 6039552 + 2 * 4462592 =
    # 14964736; fc 2048*1000 + 1000 = 2049000: 25557032 (torchvision's resnet50). E.g. layer2's block 0:
    # 256*128 + 128*128*9 + 128*512 + 256*512 (shortcut) + BN 2 * (128 + 128 + 512 + 512) = 379392.
    # Full model (the count is the same at any input size) on 64x64 images ("imagenet-64": every stride-2
    # conv, the max-pool and all four stages still run: 64 -> 32 -> 16 -> 16 -> 8 -> 4 -> 2), 4 images, softplus
    # for ReLU as resnet18-cifar10's (with ReLU: 5 ReLUs flip between torch float32 and float64, and the stem's
    # weights then differ by 0.09 of a 6.3 step; keras against torch by 0.08). Seen (three keras backends):
    # eval outputs 1.7e-4..1.9e-4 on logits up to 195 (eval mode at initialisation: running statistics 0 and
    # 1, so the residual sums grow through 16 blocks; relative 1e-6), loss <= 4.8e-7, trainable weights
    # <= 1.6e-6, running_mean 7.8e-7, running_var 8e-6..1.2e-5 (values up to 4.1; the error grows with depth,
    # as in torch float32 against float64: 6.4e-6). Tolerances: outputs 1e-3, weights 5e-5. A biased running
    # variance would differ by 0.1 * var / 15 in layer4 (n = 4 * 2 * 2). Mutant: as resnet18-cifar10's.
    parity=ParityCase(
        25557032,
        outputs_tol=1e-3,
        weights_tol=5e-5,
        model_kwargs={"in_shape": (64, 64, 3), "activation": "softplus"},
        batch_size=4,
        dataset="imagenet-64",
        mutant_kwargs={"bn_momentum": 0.9},
    ),
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
        "in_samples": 4000,  # 0.5 s at 8 kHz: bench/core/datasets/audio.py CLIP_SAMPLES
        "channels": (16, 32, 64),
        "kernel_sizes": (32, 5, 5),
        "strides": (8, 1, 1),  # 'valid' padding (the default); `padding: "same"` pads as Keras does in both twins
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
    target=0.8,  # bench/measure/gan_quality.py; real test digits score 0.96. Reached at epoch 24-27, both frameworks, seeds 0-2
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
    dataset="CartPole-v1",  # a gymnasium environment, not a bench.core.data dataset (model_kwargs["env"])
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

# The decoder family (issue 35): the Llama 3 architecture (RMSNorm, rotary positions, SwiGLU, grouped-query
# attention) through the field's libraries: transformers' LlamaForCausalLM and keras-hub's Llama3CausalLM
# (impls/*/llama.py), one set of weights through keras-hub's own converter. model_kwargs map one to one onto
# transformers' LlamaConfig (bench/interfaces/decoder_spec.py hf_config).
LLAMA_TINY = Workload(
    name="llama-tiny",
    packages=("transformers", "keras_hub"),
    extra="llm",
    default_run=False,  # named to run (--workloads): the default run keeps its budget and its install
    model="llama",
    task="causal_lm",
    dataset="lm-markov",  # synthetic: a sparse Markov chain over 512 ids, 64 tokens a sequence
    batch_size=32,  # sequences per step (2048 tokens)
    epochs=4,
    quick_epochs=2,  # 128 steps: measured (torch-eager, seed 0) 0.36 after epoch 1, 0.48 after epoch 2
    optimizer=OptimizerSpec("adam", lr=0.003, beta1=0.9, beta2=0.999, eps=1e-8),
    loss="causal-LM cross-entropy (mean over every predicted token)",
    # The chain's best is 0.7 (perplexity 2.49); a model that reads only the current id plateaus near 0.36:
    # 0.45 is reached only by attending to the id two back (bench/core/datasets/markov.py)
    metric="next_token_accuracy",
    target=0.45,
    model_kwargs={
        "vocab_size": 512,  # bench/core/datasets/markov.py load_lm_markov
        "seq_len": 64,  # the training sequences' length (the dataset's); generation's is its own (decoder_spec)
        "hidden": 128,
        "intermediate": 352,  # SwiGLU width, ~2.7x hidden as SmolLM's 1536 / 576
        "layers": 2,
        "heads": 4,  # head_dim 32
        "kv_heads": 2,  # grouped-query attention: 2 query heads per key-value head
        "max_positions": 128,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-5,  # Llama 3's; keras-hub's converter drops it (its backbone keeps 1e-6): explicit
        "tie_embeddings": False,
        "activation": "silu",  # SwiGLU's gate, fixed by both libraries (not a twin setting)
    },
    description="Llama 3 decoder: 2 layers, width 128, 4 query / 2 key-value heads, SwiGLU 352, RMSNorm, "
    "rotary positions, 512-id vocabulary, untied output layer",
    seed_use_case="NLP & Transformers: decoder language models",
    # embed 512*128 + lm_head 128*512 + 2 layers * (q 128*128 + k 128*64 + v 128*64 + o 128*128
    # + gate/up/down 3 * 128*352 + 2 norms 2*128) + final norm 128 = 65536 + 65536 + 2*184576 + 128.
    # Mutant: the keras side at keras-hub's default epsilon 1e-6, which its converter would leave
    # (logits differ by ~0.009, impls/keras/llama.py).
    parity=ParityCase(500352, batch_size=4, mutant_kwargs={"rms_norm_eps": 1e-6}),
)

LLAMA_SMOLLM_BASE = Workload(
    name="llama-smollm-base",
    packages=("transformers", "keras_hub"),
    extra="llm",
    default_run=False,  # named to run (--workloads): the default run keeps its budget and its install
    model="llama",
    task="causal_lm",
    dataset="lm-markov-49k",  # the same synthetic chain over SmolLM's 49152 ids, 128 tokens a sequence
    batch_size=8,  # sequences per step (1024 tokens)
    epochs=1,
    quick_epochs=1,
    optimizer=OptimizerSpec("adamw", lr=3e-4, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1),
    loss="causal-LM cross-entropy (mean over every predicted token)",
    metric="next_token_accuracy",
    target=None,  # a base workload: speed on a step budget; accuracy is recorded, no target is claimed
    model_kwargs={
        "vocab_size": 49152,  # SmolLM-135M's shape, random initialisation (nothing is downloaded)
        "seq_len": 128,  # bench/core/datasets/markov.py load_lm_markov_49k
        "hidden": 576,
        "intermediate": 1536,
        "layers": 30,
        "heads": 9,  # head_dim 64
        "kv_heads": 3,
        "max_positions": 2048,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-5,
        "tie_embeddings": False,  # SmolLM ties its output layer to the embedding: here untied (+28.3M)
        "activation": "silu",
    },
    description="Llama 3 decoder of SmolLM-135M's shape: 30 layers, width 576, 9 query / 3 key-value heads, "
    "SwiGLU 1536, 49152-id vocabulary, untied output layer (162.8M parameters)",
    seed_use_case="NLP & Transformers: decoder language models",
    quick_speed_only=True,
    scale="base",
    # All 30 layers: embed 49152*576 * 2 (untied) + 30 * (576*576 + 2 * 576*192 + 576*576 + 3 * 576*1536
    # + 2*576) + 576 = 56623104 + 30*3540096 + 576 = 162826560. The parity case at 2 layers, 2 sequences:
    # 56623104 + 2*3540096 + 576.
    parity=ParityCase(
        63703872, batch_size=2, model_kwargs={"layers": 2}, mutant_kwargs={"rms_norm_eps": 1e-6}, bf16_outputs_tol=0.05
    ),
)

WORKLOADS: Mapping[str, Workload] = {
    w.name: w
    for w in (
        MLP_IRIS,
        LSTM_SENTIMENT,
        LSTM_BASE_TEXT,
        TRANSFORMER_TEXT,
        BERT_BASE_TEXT,
        CNN_DIGITS,
        CNN_CIFAR10,
        RESNET18_CIFAR10,
        RESNET50_IMAGENET,
        CONV1D_AUDIO,
        DCGAN_DIGITS,
        DQN_CARTPOLE,
        LLAMA_TINY,
        LLAMA_SMOLLM_BASE,
    )
}


def get(name: str) -> Workload:
    if name not in WORKLOADS:
        raise UsageError(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
    return WORKLOADS[name]
