"""What an attribution batch may hold and what one of its rows costs, shared by the fast paths,
which bound their memory by it, and the cost model (`txai.scale`), which counts their work.
Free of torch, so that the workflow's parse does not import it."""

from __future__ import annotations

DEFAULT_MEMORY_MB = {"cpu": 2048, "cuda": 16384}  # explain.memory_mb: null, per device type
CHUNK_VALUES = 2**21  # the CNN on a CPU: rows x first-block activations a batch (8 MB: cached)
CHUNK_ROWS = 2048  # the MLP: rows (estimates x samples) a product with the folded weights


def cnn_row_bytes(channels: list[int], side: int) -> int:
    """Bytes one trunk row holds while it is explained: its forward values (conv, route, pool,
    BatchNorm and ReLU outputs of each block) and the backward pass's temporaries, about six
    tensors of the first block's size."""
    cached, width = 0, side
    for out in channels:
        cached += out * width**2 * 11 // 4  # z, route; p, u, y at a quarter
        width //= 2
    return 4 * (cached + 6 * channels[0] * side**2)


def cnn_training_row_bytes(channels: list[int], side: int) -> int:
    """Bytes one sample of a CNN training batch holds: each block's convolution output and
    what the backward pass keeps of it (pooling indices, BatchNorm input, ReLU output) and its
    gradients, 2.5 times the convolution outputs (measured: 18 MB a sample at the paper's widths
    on the CPU, where the outputs are 9.3 MB)."""
    outputs, width = 0, side
    for out in channels:
        outputs += out * width**2
        width //= 2
    return 4 * outputs * 5 // 2


def mlp_row_bytes(genes: int, hidden: int, steps: int = 0) -> int:
    """Bytes one (estimate, sample) row of the MLP's product holds: its gathered reference (then
    the input difference) and its gradient, over the genes; IntegratedGradients' hidden-layer
    factors over the steps."""
    return 4 * (2 * genes + 2 * hidden * steps)


def rows_within(memory_mb: float, row_bytes: int) -> int:
    """Rows a batch of `memory_mb` holds (at least one)."""
    return max(1, int(memory_mb * 2**20 // row_bytes))
