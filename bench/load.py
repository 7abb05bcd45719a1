"""Concurrent users against `qa serve`: the chat's /chat through gradio_client and the JSON API's
/api/ask through plain HTTP. Latency percentiles, errors, answers/s, and the server's CPU per
answer against what the same answer costs in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import DEV_QUESTIONS, ROOT, copy_collection, median
from qa.evaluation import load_questions, percentile

# The tests' launcher: `qa serve` in a subprocess, ready once its port answers.
from tests.serving import start_server, stop_server


def api_session(url: str, questions: Sequence[str], start: threading.Barrier) -> tuple[list[float], list[str]]:
    """One program on the JSON API: wait for the others, then POST each question in turn."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        start.wait()
        for q in questions:
            t0 = time.perf_counter()
            try:
                r = client.post("api/ask", json={"question": q})
                if r.status_code != 200 or not r.json().get("answer"):
                    errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - t0)
    return latencies, errors


def user_session(url: str, questions: Sequence[str], start: threading.Barrier) -> tuple[list[float], list[str]]:
    """One chat user: connect, wait for the others, then ask each question in turn."""
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


SESSIONS = {"chat": user_session, "api": api_session}


def load_round(
    url: str, users: int, per_user: int, questions: Sequence[str], server_pid: int | None = None, route: str = "chat"
) -> dict[str, Any]:
    import psutil

    session = SESSIONS[route]
    server = psutil.Process(server_pid) if server_pid else None
    cpu_before = sum(server.cpu_times()[:2]) if server else 0.0
    start = threading.Barrier(users)
    plans = [[questions[(u + i) % len(questions)] for i in range(per_user)] for u in range(users)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(lambda p: session(url, p, start), plans))
    wall = time.perf_counter() - t0
    server_cpu = sum(server.cpu_times()[:2]) - cpu_before if server else float("nan")
    latencies = [x for lat, _ in results for x in lat]
    errors = [e for _, errs in results for e in errs]
    return {
        "route": "/chat" if route == "chat" else "/api/ask",
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


def in_process_cpu_ms(index: Path, questions: Sequence[str], rounds: int = 3) -> float:
    """CPU time of one answer in this process (every thread counted), median of rounds over the questions."""
    import qa

    settings = qa.Settings.from_env(env={})
    r = qa.Retriever.load(index, settings)
    for q in questions[:3]:
        qa.answer(q, r)  # warm-up
    costs = []
    for _ in range(rounds):
        t0 = time.process_time()
        for q in questions:
            qa.answer(q, r)
        costs.append(1000 * (time.process_time() - t0) / len(questions))
    return median(costs)


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
        in_process = in_process_cpu_ms(root / "index", texts)
        log(f"load: one answer in-process costs {in_process:.0f} ms of CPU")
        proc, url = start_server(root)
        try:
            rounds = []
            for route in ("chat", "api"):
                load_round(url, 2, 1, texts, route=route)  # warm-up: first requests compile and fill caches
                for n in users:
                    r = load_round(url, n, per_user, texts, proc.pid, route)
                    r["cpu_ratio_to_in_process"] = r["server_cpu_ms_per_answer"] / in_process
                    rounds.append(r)
                    log(
                        f"load: {r['route']} {n} users: p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
                        f"{r['throughput_rps']:.1f} answers/s, server CPU {r['server_cpu_ms_per_answer']:.0f} ms/answer "
                        f"({r['cpu_ratio_to_in_process']:.2f}x in-process), {r['errors']} errors"
                    )
        finally:
            stop_server(proc)
    return {
        "per_user": per_user,
        "in_process_cpu_ms_per_answer": in_process,
        "rounds": rounds,
        "server": f"qa serve: uvicorn, the JSON API and the Gradio chat (queue of 8 handlers), {os.cpu_count()} answers at a time",
    }
