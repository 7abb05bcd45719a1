"""What `qa index`, `qa add` and `qa remove` say when the index cannot be written (a full disk, a
read-only folder: real tmpfs mounts, which need root), and that each skipped file is reported once."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.store import CURRENT_FILE, current_version
from tests.conftest import copy_corpus

pytestmark = pytest.mark.process

QA = [sys.executable, "-m", "qa.cli"]
QUESTION = "Who is the president of Microsoft quoted in the announcement?"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return subprocess.run(QA + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and the right to mount): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)  # lazy: a process may still map a file


def remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def used_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def error_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_a_disk_that_fills_while_faiss_writes_gives_one_line_and_keeps_the_index(tmp_path: Path) -> None:
    copy_corpus(tmp_path / "seeds")
    with tmpfs(tmp_path / "disk", "size=1m") as disk:
        where = ["--index", str(disk / "index")]
        assert run(["index", *where], tmp_path).returncode == 0
        good = current_version(disk / "index")
        # Room for less than the next build's FAISS file, the first it writes (larger than this one's).
        remount(disk, f"size={used_bytes(disk) + 16 * 1024}")
        sentence = "Les centres de données du Japon consomment de plus en plus d'électricité. "
        (tmp_path / "seeds" / "big.txt").write_text("Un long article\n\n" + sentence * 300, encoding="utf-8")
        line = error_line(run(["index", *where], tmp_path))
        assert line.startswith("error: could not write the index in ") and "unexpected" not in line
        assert "No space left on device" in line and "previous index is unchanged and still in force" in line
        assert current_version(disk / "index") == good
        assert sorted(p.name for p in (disk / "index").iterdir() if not p.name.startswith(".")) == sorted([CURRENT_FILE, good.name])
        asked = run(["ask", QUESTION, *where], tmp_path)
        assert asked.returncode == 0 and "Brad Smith" in asked.stdout, asked.stderr


def test_add_and_remove_with_a_read_only_index_say_what_changed_and_that_the_index_did_not(tmp_path: Path) -> None:
    seeds = copy_corpus(tmp_path / "seeds")
    (tmp_path / "new.txt").write_text("Un article de plus\n\nLe conseil municipal a voté son budget pour l'année.", encoding="utf-8")
    with tmpfs(tmp_path / "ro", "size=1m") as ro:
        where = ["--index", str(ro / "index")]
        assert run(["index", *where], tmp_path).returncode == 0
        remount(ro, "ro")
        added = run(["add", str(tmp_path / "new.txt"), *where], tmp_path)
        line = error_line(added)
        assert "new.txt: added new" in added.stdout and (seeds / "new.txt").exists()
        assert "the collection changed but the index was not updated" in line and "Read-only file system" in line
        assert "`qa index`" in line
        removed = run(["remove", "new", "--json", *where], tmp_path)
        line = error_line(removed)
        out = json.loads(removed.stdout)
        assert out["removed"] == ["new"] and out["index"] is None and "Read-only file system" in out["index_error"]
        assert "the collection changed but the index was not updated" in line and not (seeds / "new.txt").exists()


def test_add_json_carries_the_index_error(tmp_path: Path) -> None:
    copy_corpus(tmp_path / "seeds")
    (tmp_path / "new.txt").write_text("Un article de plus\n\nLe conseil municipal a voté son budget pour l'année.", encoding="utf-8")
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        r = run(["add", str(tmp_path / "new.txt"), "--json", "--index", str(ro / "index")], tmp_path)
        error_line(r)
        out = json.loads(r.stdout)
        assert [a["id"] for a in out["added"]] == ["new"] and out["index"] is None
        assert "Read-only file system" in out["index_error"]


def test_each_skipped_file_is_reported_once(tmp_path: Path) -> None:
    seeds = copy_corpus(tmp_path / "seeds")
    (seeds / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "new.txt").write_text("Un article de plus\n\nLe conseil municipal a voté son budget pour l'année.", encoding="utf-8")
    for args in (["add", str(tmp_path / "new.txt")], ["index", "--rebuild"]):
        r = run(args, tmp_path)
        assert r.returncode == 0, r.stderr
        told = [line for line in r.stderr.splitlines() if "empty.txt" in line]
        assert len(told) == 1 and "skipped seeds/empty.txt: empty file" in told[0], r.stderr
