"""What every Snakemake job of txai shares: logging, and how bad input ends a job."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import sys
from collections.abc import Iterator

from txai.io import TxaiError, float32_precision


@contextlib.contextmanager
def job(snakemake) -> Iterator[None]:
    """Run a job's body, logging to its `log:` file and stderr; a finished job's last line says
    where it ran (`where_ran`).

    A `TxaiError` (bad input, a model under the accuracy floor) ends the job with its message
    alone: it names the file, the row or key and the fix, so a traceback would only hide it.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    torch = sys.modules.get("torch")
    if torch is not None:  # one job, its declared threads: no oversubscription, same sums
        torch.set_num_threads(snakemake.threads)
        deterministic(torch)
    try:
        yield
    except TxaiError as error:
        logging.getLogger("txai").error("%s", error)
        sys.exit(1)
    logging.getLogger("txai").info("ran on %s", where_ran())


def where_ran() -> dict:
    """Where a job ran: its device (the GPU's name once CUDA was used), PyTorch's float32
    precision settings, and peak memory in MB (the process's resident set; GPU allocations)."""
    out = {
        "device": "cpu",
        "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        out["precision"] = float32_precision(torch)
        if torch.cuda.is_initialized():
            out["device"] = torch.cuda.get_device_name()
            out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() // 2**20
    return out


def deterministic(torch) -> None:
    """Ask PyTorch for its deterministic kernels (README: Determinism).

    CPU runs are bit-for-bit repeatable without this; on a GPU, cuDNN's autotuner and cuBLAS's
    split reductions are not. An operation with no deterministic CUDA kernel warns in the job's
    log instead of failing. cuBLAS reads its workspace setting when CUDA starts, before any job
    code touches the GPU.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
