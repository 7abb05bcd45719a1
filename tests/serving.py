"""The real server (`qa serve`) in a subprocess, for the tests that talk to it over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    root: Path, host: str = "127.0.0.1", public: bool = False, log: Path | None = None, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`qa serve` over root/seeds and root/index; returns the process and its URL once it answers.

    `public` serves as if reached beyond this machine (`--public`) while listening on loopback only;
    `log` receives the server's stderr, for tests that read it while the server runs."""
    port = free_port()
    e = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    e.update(env)
    cmd = [sys.executable, "-m", "qa.cli", "serve", "--host", host, "--port", str(port), "--seeds", str(root / "seeds"), "--index", str(root / "index")]
    cmd += ["--public"] if public else []
    if log is None:
        proc = subprocess.Popen(cmd, cwd=root, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    else:
        with open(log, "wb") as sink:  # the child writes to its own copy of the file
            proc = subprocess.Popen(cmd, cwd=root, env=e, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = proc.stderr.read().decode() if proc.stderr else log.read_text(errors="replace") if log else ""
            raise RuntimeError(f"server exited: {said}")
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
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
