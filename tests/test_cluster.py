"""`qa index --cluster`: embedding on a real Ray cluster of two single-CPU nodes on loopback.

Each build starts its own `local:2` cluster (about 10 s) in a child process, as the command does.
The corpus is the seeds and the distractors cut into short passages: about 200 to embed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import qa
from qa.store import current_version, read_index
from tests.conftest import DISTRACTORS, ROOT, copy_corpus

pytest.importorskip("ray", reason="the [cluster] extra is not installed")
psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.cluster, pytest.mark.process]

QUESTIONS = [
    "Combien Microsoft va-t-il investir au Japon ?",
    "How much will AWS invest in Japan?",
    "Quel est le montant de l'investissement de SoftBank ?",
    "Que prévoit l'AI Act européen ?",
    "Who attacked Microsoft's systems?",
]


SMALL_CHUNKS = {"QA_CHUNK_SIZE": "150", "QA_CHUNK_OVERLAP": "30"}


@pytest.fixture(scope="module")
def small_chunks() -> qa.Settings:
    return qa.Settings.from_env(env={}, chunk_size=150, chunk_overlap=30)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_corpus(tmp_path_factory.mktemp("archive") / "seeds", tuple(sorted(p.name for p in DISTRACTORS.iterdir())))


@pytest.fixture(scope="module")
def local_index(archive: Path, small_chunks: qa.Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("local") / "index"
    qa.build_index(archive, target, small_chunks)
    return target


@pytest.fixture(scope="module")
def cluster_build(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """`qa index --cluster local:2`, run as a user runs it; its --json report and the index."""
    target = tmp_path_factory.mktemp("cluster") / "index"
    build = qa_command("index", "--seeds", str(archive), "--index", str(target), "--cluster", "local:2", "--json", cwd=target.parent, **SMALL_CHUNKS)
    out, err = build.communicate(timeout=180)
    assert build.returncode == 0, err
    return json.loads(out), target


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def assert_same_as_local(cluster_index: Path, local_index: Path) -> None:
    ours, theirs = read_index(cluster_index), read_index(local_index)
    assert [(p.doc_id, p.start, p.end) for p in ours.passages] == [(p.doc_id, p.start, p.end) for p in theirs.passages]
    assert cosines(ours.vectors, theirs.vectors).min() >= 0.9999
    assert ours.sentence_vectors.shape == theirs.sentence_vectors.shape
    assert cosines(ours.sentence_vectors, theirs.sentence_vectors).min() >= 0.9999


def test_cluster_build_has_the_local_passages_and_vectors(cluster_build: tuple[dict[str, Any], Path], local_index: Path) -> None:
    report, target = cluster_build
    assert 150 <= report["chunks_embedded"] == report["chunks_total"]
    assert_same_as_local(target, local_index)


def test_cluster_build_answers_searches_as_a_local_build(
    cluster_build: tuple[dict[str, Any], Path], local_index: Path, small_chunks: qa.Settings
) -> None:
    ours = qa.Retriever.load(cluster_build[1], small_chunks)
    theirs = qa.Retriever.load(local_index, small_chunks)
    for question in QUESTIONS:
        found = [(h.doc_id, h.start) for h in ours.search(question, k=5)]
        assert found == [(h.doc_id, h.start) for h in theirs.search(question, k=5)], question


def test_qa_search_prints_the_same_from_a_cluster_build(cluster_build: tuple[dict[str, Any], Path], local_index: Path) -> None:
    for question in QUESTIONS[:2]:
        printed = []
        for index in (cluster_build[1], local_index):
            search = qa_command("search", "--index", str(index), question, "--json", cwd=index.parent, **SMALL_CHUNKS)
            out, err = search.communicate(timeout=60)
            assert search.returncode == 0, err
            printed.append(json.loads(out))
        assert printed[0] == printed[1] and printed[0], question


def test_both_nodes_receive_work(cluster_build: tuple[dict[str, Any], Path]) -> None:
    report = cluster_build[0]
    assert len(report["cluster_nodes"]) == 2
    assert sum(report["cluster_nodes"].values()) == report["chunks_embedded"]
    assert min(report["cluster_nodes"].values()) > 0


def test_only_a_changed_articles_passages_are_sent(
    cluster_build: tuple[dict[str, Any], Path], archive: Path, small_chunks: qa.Settings, local_index: Path, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(archive, seeds)
    target = tmp_path / "index"
    shutil.copytree(cluster_build[1], target, symlinks=True)
    changed = seeds / "d05_ue_ai_act.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nMise à jour : le texte entre en vigueur en août 2024.\n", encoding="utf-8")

    report = qa.build_index(seeds, target, dataclasses.replace(small_chunks, cluster="local:2"))

    (changed_id,) = report.updated
    article_passages = [p for p in read_index(target).passages if p.doc_id == changed_id]
    assert report.chunks_embedded == len(article_passages) == sum(report.cluster_nodes.values())
    assert report.chunks_embedded < report.chunks_total / 5
    # The articles that did not change kept their vectors.
    local = read_index(local_index)
    rebuilt = read_index(target)
    kept = [i for i, p in enumerate(rebuilt.passages) if p.doc_id != changed_id]
    local_rows = {(p.doc_id, p.start): i for i, p in enumerate(local.passages)}
    rows = [local_rows[(rebuilt.passages[i].doc_id, rebuilt.passages[i].start)] for i in kept]
    assert cosines(rebuilt.vectors[kept], local.vectors[rows]).min() >= 0.9999


def map_workers() -> list[psutil.Process]:
    """The Ray actors embedding for builds started by this test process."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "MapWorker" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_an_actor_killed_during_the_build_is_retried(archive: Path, small_chunks: qa.Settings, local_index: Path, tmp_path: Path) -> None:
    killed: list[int] = []

    def kill_one_actor(done: int, total: int) -> None:
        if done > 0 and not killed:
            victims = map_workers()
            if victims:
                victims[0].send_signal(signal.SIGKILL)
                killed.append(victims[0].pid)

    report = qa.build_index(archive, tmp_path / "index", dataclasses.replace(small_chunks, cluster="local:2"), progress=kill_one_actor)

    assert killed, "no actor was found to kill"
    assert report.chunks_embedded == report.chunks_total
    assert_same_as_local(tmp_path / "index", local_index)


def ray_services(root: psutil.Process) -> list[psutil.Process]:
    services = []
    for proc in root.children(recursive=True):
        try:
            if any(name in " ".join(proc.cmdline()[:1]) for name in ("gcs_server", "raylet")):
                services.append(proc)
        except psutil.Error:
            continue
    return services


def qa_command(*args: str, cwd: Path, **env_vars: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | env_vars
    return subprocess.Popen(
        [sys.executable, "-m", "qa.cli", *args], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_a_cluster_that_goes_away_fails_in_one_line_and_keeps_the_index(
    archive: Path, local_index: Path, small_chunks: qa.Settings, tmp_path: Path
) -> None:
    target = tmp_path / "index"
    shutil.copytree(local_index, target, symlinks=True)
    before = current_version(target)
    build = qa_command(
        "index", "--seeds", str(archive), "--index", str(target), "--rebuild", "--cluster", "local:2",
        cwd=tmp_path, **SMALL_CHUNKS,
    )
    root = psutil.Process(build.pid)
    deadline = time.monotonic() + 90
    left: list[psutil.Process] = []
    while time.monotonic() < deadline and build.poll() is None:
        everything = root.children(recursive=True)
        if any("MapWorker" in " ".join(_cmdline(p)) for p in everything):
            for service in ray_services(root):
                service.send_signal(signal.SIGKILL)
            left = everything
            break
        time.sleep(0.2)
    try:
        assert left, "the build never reached the embedding step"
        _, err = build.communicate(timeout=120)
    finally:
        # The killed services' helpers (dashboard and runtime-env agents) would outlive the test.
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()

    assert build.returncode == 1
    lines = messages(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "cluster" in lines[0] and "index is unchanged" in lines[0]
    assert "Traceback" not in err
    log_file = Path(lines[0].split("Ray's log: ")[1].split(")")[0])
    assert log_file.is_file()  # kept for the user to read
    log_file.unlink()
    assert current_version(target) == before
    assert len(read_index(target).passages) == len(read_index(local_index).passages)


def messages(stderr: str) -> list[str]:
    """What the command said on stderr, its progress lines aside (what it loads, the embedding bar)."""
    lines = (line.strip() for line in stderr.replace("\r", "\n").splitlines())
    return [line for line in lines if line and not line.startswith(("embedding", "loading the"))]


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def test_a_bad_cluster_address_is_one_line(corpus: Path, tmp_path: Path) -> None:
    build = qa_command("index", "--seeds", str(corpus), "--index", str(tmp_path / "index"), "--cluster", "nowhere", cwd=tmp_path)
    _, err = build.communicate(timeout=60)
    assert build.returncode == 1
    assert messages(err) == [
        "error: --cluster 'nowhere' is not a cluster address: use auto, ray://HOST:PORT, HOST:PORT or local:N (1-64)"
    ]
    assert not (tmp_path / "index").exists()


def test_without_ray_the_flag_says_how_to_install_it(corpus: Path, tmp_path: Path) -> None:
    # A `ray` that cannot be imported, first on the path: what a machine without the extra sees.
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(shadow.parent), str(ROOT)])
    build = subprocess.run(
        [sys.executable, "-m", "qa.cli", "index", "--seeds", str(corpus), "--index", str(tmp_path / "index"), "--cluster", "local:2"],
        cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60,
    )
    assert build.returncode == 1
    (line,) = messages(build.stderr)
    assert line.startswith("error: --cluster needs Ray") and "pip install 'newsqa[cluster]'" in line


@contextlib.contextmanager
def existing_cluster(tmp_path: Path, *resources: str) -> Iterator[str]:
    """A cluster started as users start one (`ray start --head`), on loopback, in the foreground
    (`--block`) so that stopping it stops only it; yields its address."""
    from tests.serving import free_port

    port = free_port()
    env = os.environ | {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    temp = Path(tempfile.mkdtemp(prefix="qa-ray-test-"))  # short: Ray's socket paths must fit 107 bytes
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *resources],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.name() == "raylet" for p in psutil.Process(head.pid).children(recursive=True)):
            assert head.poll() is None and time.monotonic() < deadline, "ray start failed"
            time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # `ray start --block` stops its cluster on SIGTERM, at times only after 30 s
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # the cluster's processes share the head's session
        head.wait(10)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_build_joins_an_existing_cluster_by_its_address(archive: Path, small_chunks: qa.Settings, local_index: Path, tmp_path: Path) -> None:
    with existing_cluster(tmp_path, "--num-cpus=2") as address:
        report = qa.build_index(archive, tmp_path / "index", dataclasses.replace(small_chunks, cluster=address))
    assert report.chunks_embedded == report.chunks_total and len(report.cluster_nodes) == 1
    assert_same_as_local(tmp_path / "index", local_index)


def test_gpu_nodes_without_a_cuda_runtime_fail_in_one_line_that_says_what_to_install(corpus: Path, tmp_path: Path) -> None:
    if gpu_count():
        pytest.skip("this machine has a CUDA runtime")
    # The cluster says it has a GPU; the workers' onnxruntime has no CUDA provider.
    with existing_cluster(tmp_path, "--num-cpus=2", "--num-gpus=1") as address:
        build = qa_command("index", "--seeds", str(corpus), "--index", str(tmp_path / "index"), "--cluster", address, cwd=tmp_path)
        _, err = build.communicate(timeout=120)
    assert build.returncode == 1
    (line,) = messages(err)
    assert "no CUDA provider: pip install onnxruntime-gpu on the GPU nodes" in line and "index is unchanged" in line
    assert not (tmp_path / "index" / "CURRENT").exists()


def gpu_count() -> int:
    try:
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return 0
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        return out.stdout.count("GPU ")
    except (OSError, subprocess.SubprocessError):
        return 0


@pytest.mark.skipif(gpu_count() == 0, reason="no GPU with onnxruntime-gpu on this machine")
def test_gpu_actors_give_the_cpu_vectors(archive: Path, small_chunks: qa.Settings, local_index: Path, tmp_path: Path) -> None:
    report = qa.build_index(archive, tmp_path / "index", dataclasses.replace(small_chunks, cluster="local:1"))
    assert report.chunks_embedded == report.chunks_total
    ours, theirs = read_index(tmp_path / "index"), read_index(local_index)
    # GPU kernels sum in another order than the CPU's: close, not bitwise.
    assert cosines(ours.vectors, theirs.vectors).min() >= 0.999
