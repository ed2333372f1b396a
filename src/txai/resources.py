"""Did every job fit the memory it declared? `python -m txai.resources [ROOT]`

Each job (`txai.workflow.job`) writes a record of what it declared and what it used beside
Snakemake's benchmark files: for the log `logs/<x>/<y>.log`, `benchmarks/resources/<x>/<y>.json`
holds rule, mem_mb and runtime (declared, on that attempt; null where not), device, peak_host_mb,
peak_gpu_mb (null where CUDA was not used) and seconds. Snakemake's own benchmarks sample memory
every 30 s after the first 15 s and miss a short peak; these peaks are the kernel's high-water
marks. This module lists the records and fails on each job whose host peak exceeds its
`mem_mb`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

FOLDER = Path("benchmarks", "resources")


def record_path(log: str | os.PathLike) -> Path | None:
    """The record of the job logging to `log` (relative to the working directory, as Snakemake
    gives it): `logs/<x>/<y>.log` -> `benchmarks/resources/<x>/<y>.json`; None outside `logs/`."""
    parts = Path(log).parts
    if len(parts) < 2 or parts[0] != "logs":
        return None
    return FOLDER.joinpath(*parts[1:]).with_suffix(".json")


def records(root: str | os.PathLike) -> list[dict]:
    """Every record under `root/benchmarks/resources`, by path, each with its `path` relative to
    `root`."""
    root = Path(root)
    found = []
    for path in sorted((root / FOLDER).rglob("*.json")):
        found.append({**json.loads(path.read_text()), "path": str(path.relative_to(root))})
    return found


def exceeds(record: dict) -> bool:
    """Whether the job's peak resident memory was above its declared `mem_mb` (never, when it
    declared none)."""
    return record["mem_mb"] is not None and record["peak_host_mb"] > record["mem_mb"]


def check(root: str | os.PathLike) -> list[dict]:
    """The records under `root` of the jobs that exceeded their declared `mem_mb`."""
    return [record for record in records(root) if exceeds(record)]


def over(record: dict) -> str:
    """The line that names a job over its declared mem_mb."""
    return (f"OVER: {record['rule']} ({record['path']}) peaked at {record['peak_host_mb']} MB, "
            f"declared mem_mb {record['mem_mb']}.")  # fmt: skip


def table(found: list[dict]) -> str:
    """One line per record: rule, record, mem_mb, peak_host_mb, peak_gpu_mb, peak / mem_mb."""
    rows = [("rule", "record", "mem_mb", "peak_host_mb", "peak_gpu_mb", "ratio")]
    for r in found:
        ratio = "-" if r["mem_mb"] is None else f"{r['peak_host_mb'] / r['mem_mb']:.2f}"
        cells = (r["rule"], r["path"], r["mem_mb"], r["peak_host_mb"], r["peak_gpu_mb"], ratio)
        rows.append(tuple("-" if cell is None else str(cell) for cell in cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=".", help="the run's working directory")
    root = Path(parser.parse_args(argv).root)
    found = records(root)
    if not found:
        print(f"No resource record under {root / FOLDER}: nothing was checked. Run the workflow.")
        return 1
    print(table(found))
    undeclared = [r for r in found if r["mem_mb"] is None]
    if undeclared:
        print(f"{len(undeclared)} job(s) declared no mem_mb: listed, not checked.")
    offenders = [r for r in found if exceeds(r)]
    for r in offenders:
        print(over(r))
    checked = len(found) - len(undeclared)
    print(f"{len(offenders)} of {checked} job(s) exceeded their declared mem_mb.")
    return 1 if offenders else 0


if __name__ == "__main__":
    raise SystemExit(main())
