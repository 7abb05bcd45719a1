"""What every benchmark shares: paths, the benchmark collection, timing statistics, the machine."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DISTRACTORS = ROOT / "bench" / "distractors"
RESULTS = ROOT / "bench" / "results"
DEV_QUESTIONS = ROOT.parent / "shared" / "eval" / "dev.jsonl"


def copy_collection(dest: Path, sources: Sequence[Path] | None = None) -> Path:
    """The articles of `sources` (default: the seeds plus the near-topic distractors) copied into one folder."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in sources or (ROOT / "seeds", DISTRACTORS):
        for f in sorted(Path(src).iterdir()):
            if f.is_file():
                shutil.copy(f, dest / f.name)
    return dest


def env_without_settings(**extra: str) -> dict[str, str]:
    """This process's environment minus QA_* overrides, so a child runs with the defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(extra)
    return env


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far. Linux's VmHWM, which starts afresh at exec;
    getrusage's ru_maxrss does not: a worker started by a parent that had grown to 1.5 GB reports
    at least 1.5 GB whatever it used itself."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "gpu": "none",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=float) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
