"""What a worker measures with: the clock (harness), tasks, RL and GAN helpers, parity, ONNX Runtime, the timing
fields of a result (timing), what every run does around its measurement (run_support), a trained model's
predict timed and checked (prediction), and one distributed rank's training (rank_training)."""
