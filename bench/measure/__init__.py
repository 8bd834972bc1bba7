"""What a worker measures with: the clock (harness), tasks, RL and GAN helpers, parity, ONNX Runtime."""
