"""PyTorch's side of the profile scenario (bench/scenarios/profile.py): torch.profiler over the profiled steps, and
the table that names the kind of work (bench/measure/worktypes.py) of each op it reports.

Times are each event's self time (`self_cpu_time_total` on a CPU; on CUDA the op's kernels, `self_device_time_total`),
so that an op that calls others (aten::linear -> aten::addmm) counts only its own share. Autograd's wrappers
("autograd::engine::evaluate_function: AddmmBackward0", "AddmmBackward0") are typed by the function they run,
and every op inside an optimizer's `step` or `zero_grad` (torch.optim records them as "Optimizer.step#Adam.step")
is named under that region, so that the table can put the whole update (a for-loop of aten::mul_, addcdiv_ ... on
a CPU, _foreach_ or fused kernels on a GPU) in "optimizer". Used by torch-eager and its variants and by Keras
on PyTorch (impls/keras/torch_backend.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.profiler_util import FunctionEvent

from bench.measure.worktypes import OpTime, Rule

ENGINE_PREFIX = "autograd::engine::evaluate_function: "
OPTIMIZER_REGION = "Optimizer."  # torch.optim's record_function names: "Optimizer.step#Adam.step", ".zero_grad#"
IN_REGION = " > "  # an op's name inside an optimizer region: "Optimizer.step#Adam.step > aten::mul_"


def any_of(*names: str) -> str:
    return "|".join(names)


# (op type, kind, name): the first that matches wins. Op types are aten ops, record_function regions and
# autograd nodes (backward functions, by their class name).
RULES: tuple[Rule, ...] = (
    Rule(".*", "optimizer", name=r"^Optimizer\."),
    Rule(r"aten::_foreach_.*|aten::_fused_(adam|adamw|sgd).*", "optimizer"),
    Rule(r"aten::(bmm|baddbmm|_softmax|softmax|_softmax_backward_data|scaled_dot_product.*|_scaled_dot_product.*)", "attention"),
    Rule(r"(Bmm|Baddbmm|Softmax|ScaledDotProduct\w*)Backward\d*", "attention"),
    Rule(r"aten::(addmm|mm|linear|matmul|_addmm_activation|addmv|mv|dot|einsum)", "matmul"),
    Rule(r"(Addmm|Mm|Linear|Addmv|Mv|Dot)Backward\d*", "matmul"),
    Rule(r"aten::(_?convolution.*|conv\w*|mkldnn_convolution.*|_slow_conv\w*|thnn_conv\w*|_nnpack\w*)", "convolution"),
    Rule(r"aten::(max_pool\w*|avg_pool\w*|adaptive_\w*pool\w*|_adaptive_\w*pool\w*|mkldnn_max_pool\w*)", "convolution"),
    Rule(r"(Convolution|MaxPool\w*|AvgPool\w*|AdaptiveAvgPool\w*|MkldnnConvolution)Backward\d*", "convolution"),
    Rule(r"aten::(lstm|gru|rnn_\w+|_thnn_fused_\w+|mkldnn_rnn\w*|_cudnn_rnn\w*|lstm_cell|gru_cell)", "recurrent"),
    Rule(r"(Lstm|Gru|MkldnnRnnLayer|CudnnRnn|ThnnFused\w*)Backward\d*", "recurrent"),
    Rule(r"aten::(layer_norm|native_layer_norm\w*|batch_norm|native_batch_norm\w*|_batch_norm\w*|group_norm|native_group_norm\w*|_native_batch_norm\w*)", "normalization"),
    Rule(r"(NativeLayerNorm|NativeBatchNorm|CudnnBatchNorm|NativeGroupNorm)Backward\d*", "normalization"),
    Rule(r"aten::(cross_entropy_loss|_?log_softmax\w*|nll_loss\w*|mse_loss\w*|smooth_l1_loss\w*|huber_loss\w*|binary_cross_entropy\w*|sum|mean|max|min|amax|argmax|norm|linalg_vector_norm|var_mean|std|var|logsumexp|all|any)", "reduction"),
    Rule(r"(NllLoss\w*|LogSoftmax|MseLoss|SmoothL1Loss|HuberLoss|BinaryCrossEntropy\w*|Sum|Mean|Max|Amax|Norm|LinalgVectorNorm)Backward\d*", "reduction"),
    Rule(r"aten::(copy_|to|_to_copy|contiguous|clone|view|reshape|_reshape_alias|_unsafe_view|transpose|t|permute|expand|expand_as|as_strided|slice|select|unsqueeze|squeeze|flatten|unflatten|cat|stack|split|split_with_sizes|chunk|narrow|index\w*|embedding\w*|gather|scatter\w*|empty\w*|resize_|detach|detach_|alias|lift_fresh|_local_scalar_dense|item|new_\w+|zeros_like|ones_like|full_like|empty_like|numpy_T|unbind|repeat|roll|flip|masked_select|nonzero|_unsafe_index\w*)", "data_movement"),
    Rule(r"detach_?|torch::autograd::AccumulateGrad|AccumulateGrad|aten::(as_strided_|resolve_conj|resolve_neg|conj|_conj)", "data_movement"),
    Rule(r"(View|Reshape\w*|UnsafeView|T|Transpose|Permute|Expand|Clone|Slice|Select|Squeeze\w*|Unsqueeze\w*|Cat|Stack|Split\w*|Index\w*|Embedding\w*|Gather|Scatter\w*|ToCopy|Copy\w*|AsStrided\w*|Unbind|Repeat)Backward\d*", "data_movement"),
    Rule(r"aten::(add|sub|rsub|mul|div|neg|exp|log|sqrt|rsqrt|pow|abs|sign|clamp\w*|relu\w*|threshold\w*|gelu\w*|silu\w*|tanh\w*|sigmoid\w*|softplus\w*|leaky_relu\w*|elu\w*|hardtanh\w*|dropout|native_dropout\w*|bernoulli_?|feature_dropout|fill_|zero_|zeros|ones|full|arange|ne|eq|gt|lt|ge|le|where|masked_fill_?|lerp_?|addcmul_?|addcdiv_?|maximum|minimum|square|reciprocal|erf|erfinv|uniform_|normal_|rand\w*|_?to_dense|logical_\w+|bitwise_\w+|floor\w*|ceil|round|sin|cos|isnan|isinf|isfinite|nan_to_num\w*|add_|sub_|mul_|div_|exp_|sqrt_|clamp_|pow_|neg_)", "elementwise"),
    Rule(r"(Add|Sub|Rsub|Mul|Div|Neg|Exp|Log|Sqrt|Rsqrt|Pow\w*|Abs|Clamp\w*|Relu|Threshold|Gelu|Silu|Tanh|Sigmoid|Softplus|LeakyRelu|Elu|Hardtanh|NativeDropout|Where|MaskedFill\w*|Maximum|Minimum|Reciprocal|Erf|Lerp\w*|Addcmul|Addcdiv)Backward\d*", "elementwise"),
)  # fmt: skip


def region_of(e: FunctionEvent) -> str | None:
    """The optimizer region (torch.optim's record_function) that `e` runs in, or None."""
    p = e.cpu_parent
    while p is not None:
        if p.name.startswith(OPTIMIZER_REGION):
            return p.name
        p = p.cpu_parent
    return None


def op_times(events: Any, device: str) -> list[OpTime]:
    """Every CPU-side event of the trace as an OpTime (merged later by type and name): its self time on the
    host on a CPU, its kernels' self time on CUDA."""
    out = []
    for e in events:
        if e.device_type != torch.autograd.DeviceType.CPU:
            continue
        self_us = e.self_device_time_total if device == "cuda" else e.self_cpu_time_total
        region = region_of(e)
        name = f"{region}{IN_REGION}{e.name}" if region else e.name
        out.append(OpTime(e.name.removeprefix(ENGINE_PREFIX), name, 1, self_us / 1e3))
    return out


class TorchProfiler:
    """torch.profiler around the profiled steps (bench.measure.worktypes.Profiler). `folder` is unused: the
    trace is read in memory."""

    rules = RULES

    def __init__(self, device: str) -> None:
        self.device = device
        self.description = (
            "torch.profiler, the ops' own CUDA kernel time (self_device_time_total)"
            if device == "cuda"
            else "torch.profiler, the ops' own CPU time (self_cpu_time_total)"
        )
        activities = [torch.profiler.ProfilerActivity.CPU]
        if device == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.prof = torch.profiler.profile(activities=activities)

    def start(self) -> None:
        self.prof.__enter__()

    def stop(self) -> list[OpTime]:
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.prof.__exit__(None, None, None)
        return op_times(self.prof.events(), self.device)
