"""What every benchmark does last: its report as JSON, to stdout and to its --out file."""

import json
from pathlib import Path


def write(report: dict, out) -> None:
    text = json.dumps(report, indent=2)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text + "\n")
    print(text)
