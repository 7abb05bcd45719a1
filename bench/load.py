"""Concurrent chat users against `qa serve`, through gradio_client: latency percentiles and errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import DEV_QUESTIONS, ROOT, copy_collection, env_without_settings, median
from qa.evaluation import load_questions, percentile

START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    seeds: Path, index: Path, cwd: Path, host: str = "127.0.0.1", env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`qa serve` in a subprocess; returns it and its URL once the port answers."""
    port = free_port()
    e = env_without_settings(**(env or {}))
    cmd = [sys.executable, "-m", "qa.cli", "serve", "--host", host, "--port", str(port), "--seeds", str(seeds), "--index", str(index)]
    proc = subprocess.Popen(cmd, cwd=cwd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start in {START_TIMEOUT_S} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def user_session(url: str, questions: Sequence[str], start: threading.Barrier) -> tuple[list[float], list[str]]:
    """One user: connect, wait for the others, then ask each question in turn."""
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    try:
        client = Client(url, verbose=False)
    except Exception as exc:  # a refused connection is what this benchmark counts
        start.wait()
        return latencies, [f"connect: {type(exc).__name__}: {exc}"]
    start.wait()
    for q in questions:
        t0 = time.perf_counter()
        try:
            text = client.predict(q, api_name="/chat")
            if not isinstance(text, str) or not text.strip():
                errors.append(f"empty answer to {q!r}")
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - t0)
    return latencies, errors


def load_round(url: str, users: int, per_user: int, questions: Sequence[str], server_pid: int | None = None) -> dict[str, Any]:
    import psutil

    server = psutil.Process(server_pid) if server_pid else None
    cpu_before = sum(server.cpu_times()[:2]) if server else 0.0
    start = threading.Barrier(users)
    plans = [[questions[(u + i) % len(questions)] for i in range(per_user)] for u in range(users)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(lambda p: user_session(url, p, start), plans))
    wall = time.perf_counter() - t0
    server_cpu = sum(server.cpu_times()[:2]) - cpu_before if server else float("nan")
    latencies = [x for lat, _ in results for x in lat]
    errors = [e for _, errs in results for e in errs]
    return {
        "users": users,
        "requests": users * per_user,
        "errors": len(errors),
        "error_samples": errors[:5],
        "p50_ms": 1000 * median(latencies),
        "p95_ms": 1000 * percentile(latencies, 95),
        "max_ms": 1000 * max(latencies, default=float("nan")),
        "throughput_rps": len(latencies) / wall if wall else float("nan"),
        # The clients share the server's 2 cores; this is what the server itself spends per answer.
        "server_cpu_ms_per_answer": 1000 * server_cpu / max(1, len(latencies)),
    }


def run(
    users: Sequence[int] = (20, 50),
    per_user: int = 5,
    questions: Path = DEV_QUESTIONS,
    sources: Sequence[Path] | None = None,
    log=print,  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    texts = [q["question"] for q in load_questions(questions)]
    with tempfile.TemporaryDirectory(prefix="qa-load-") as d:
        root = Path(d)
        seeds = copy_collection(root / "seeds", sources)
        subprocess.run(
            [sys.executable, "-m", "qa.cli", "index", "--seeds", str(seeds), "--index", str(root / "index")],
            check=True, capture_output=True, cwd=ROOT,
        )
        proc, url = start_server(seeds, root / "index", cwd=ROOT)
        try:
            load_round(url, 2, 1, texts)  # warm-up: first requests compile and fill caches
            rounds = []
            for n in users:
                rounds.append(load_round(url, n, per_user, texts, proc.pid))
                r = rounds[-1]
                log(f"load: {n} users: p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, {r['errors']} errors")
        finally:
            stop_server(proc)
    return {"per_user": per_user, "rounds": rounds, "server": "qa serve (Gradio queue, 8 concurrent handlers)"}
