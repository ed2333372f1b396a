"""What every Snakemake job of txai shares: logging, how bad input ends a job, and the record of
what it declared and used."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import sys
import time
from collections.abc import Iterator

from txai.io import TxaiError, float32_precision, write_json
from txai.resources import record_path


@contextlib.contextmanager
def job(snakemake) -> Iterator[None]:
    """Run a job's body, logging to its `log:` file and stderr; a finished job's last line says
    where it ran (`where_ran`). Finished or failed, a job with a log under `logs/` writes its
    resource record (`txai.resources`).

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
    start = time.monotonic()
    try:
        yield
    except TxaiError as error:
        logging.getLogger("txai").error("%s", error)
        sys.exit(1)
    finally:
        ran = where_ran()
        record_resources(snakemake, ran, time.monotonic() - start)
    logging.getLogger("txai").info("ran on %s", ran)


def record_resources(snakemake, ran: dict, seconds: float) -> None:
    """Write the job's resource record beside Snakemake's benchmarks (`txai.resources`): its
    declared `mem_mb` and `runtime`, where it ran and its peaks (`ran`, from `where_ran`), and
    the body's wall-clock seconds. Never under results/, whose bytes runs compare."""
    path = record_path(snakemake.log[0]) if snakemake.log else None
    if path is None:
        return
    declared = getattr(snakemake, "resources", None)
    record = {
        "rule": getattr(snakemake, "rule", None),
        "mem_mb": getattr(declared, "mem_mb", None),
        "runtime": getattr(declared, "runtime", None),
        "device": ran["device"],
        "peak_host_mb": ran["peak_host_mb"],
        "peak_gpu_mb": ran.get("peak_gpu_mb"),
        "seconds": round(seconds, 2),
    }
    write_json(record, path)


def where_ran() -> dict:
    """Where a job ran: its device (the GPU's name once CUDA was used), PyTorch's float32
    precision settings, and peak memory in MB (`peak_host_mb`; GPU allocations)."""
    out = {"device": "cpu", "peak_host_mb": peak_host_mb()}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["precision"] = float32_precision(torch)
        if torch.cuda.is_initialized():
            out["device"] = torch.cuda.get_device_name()
            out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() // 2**20
    return out


def peak_host_mb() -> int:
    """The peak resident memory of the job's processes in MB: the largest of its own high-water
    mark and its finished children's (`RUSAGE_CHILDREN`; processes running side by side are not
    summed). Its own is Linux's VmHWM: getrusage's `RUSAGE_SELF` keeps, across exec, the peak of
    the process that started it (Snakemake's own, 160 MB for a job using 24 MB); it is the
    fallback where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except OSError:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) // 1024


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
