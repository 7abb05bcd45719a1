"""Builds that wait for each other index what the seeds folder holds when they run, not when they started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qa
from qa.corpus import article_paths
from qa.store import LOCK_FILE
from tests.conftest import AFP_ID, MS_ID, copy_corpus

pytestmark = pytest.mark.process

QA = [sys.executable, "-m", "qa.cli"]
# Holds the index's build lock, as a running build does, until the file named second appears.
HOLD_LOCK = (
    "import filelock, os, sys, time\n"
    "lock = filelock.FileLock(sys.argv[1])\n"
    "lock.acquire()\n"
    "print('held', flush=True)\n"
    "while not os.path.exists(sys.argv[2]):\n"
    "    time.sleep(0.05)\n"
)
WAITING = "waiting for another build"


def qa_command(args: list[str], cwd: Path, stderr: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    with open(stderr, "w", encoding="utf-8") as err:
        return subprocess.Popen(QA + args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)


def wait_until_blocked(proc: subprocess.Popen[str], stderr: Path) -> None:
    """Until the command says it waits for the build lock (it has stored or removed its articles)."""
    give_up = time.monotonic() + 240  # only so that a broken build cannot hang the suite
    while WAITING not in stderr.read_text(encoding="utf-8", errors="replace"):
        assert proc.poll() is None, f"ended without waiting for the lock: {stderr.read_text(encoding='utf-8')}"
        assert time.monotonic() < give_up, "never waited for the lock"
        time.sleep(0.1)


def test_a_remove_is_not_undone_by_an_add_whose_build_waited_longer(tmp_path: Path) -> None:
    seeds = copy_corpus(tmp_path / "seeds", ("d11_nvidia_capitalisation.txt", "d02_microsoft_malaisie.txt"))
    index = tmp_path / "index"
    settings = qa.Settings.from_env(env={})
    qa.build_index(seeds, index, settings)
    new = []
    for n in range(1, 6):
        path = tmp_path / f"new{n}.txt"
        path.write_text(f"Nouvel article {n}\n\nLe conseil municipal numéro {n} a voté son budget pour l'année prochaine.", encoding="utf-8")
        new.append(str(path))
    where = ["--seeds", str(seeds), "--index", str(index)]
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(index / LOCK_FILE), str(tmp_path / "release")], stdout=subprocess.PIPE, text=True)
    procs = [holder]
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        adding = qa_command(["add", *new, *where], tmp_path, tmp_path / "add.err")
        procs.append(adding)
        wait_until_blocked(adding, tmp_path / "add.err")
        removing = qa_command(["remove", MS_ID, AFP_ID, "d11_nvidia_capitalisation", *where], tmp_path, tmp_path / "remove.err")
        procs.append(removing)
        wait_until_blocked(removing, tmp_path / "remove.err")
        # The add's build goes last, as it did in the report: it is held back until the remove's is done.
        adding.send_signal(signal.SIGSTOP)
        (tmp_path / "release").touch()
        assert removing.wait(timeout=240) == 0, (tmp_path / "remove.err").read_text(encoding="utf-8")
        adding.send_signal(signal.SIGCONT)
        assert adding.wait(timeout=240) == 0, (tmp_path / "add.err").read_text(encoding="utf-8")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    on_disk = {p.stem for p in article_paths(seeds)}
    assert on_disk == {"d02_microsoft_malaisie", "new1", "new2", "new3", "new4", "new5"}
    assert set(qa.Retriever.load(index, settings).articles) == on_disk
