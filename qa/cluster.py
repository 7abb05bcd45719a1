"""Passages → vectors on a Ray cluster, for archives one machine embeds too slowly (`qa index --cluster`).

Only the embedding moves: the build (chunking, reuse of unchanged articles, the manifest, the FAISS
index, the atomic switch) stays on this machine, in qa/indexing.py. The passages to embed go out
through Ray Data (`from_items`, then `map_batches` over a pool of actors that each load the embedder
once) and come back matched by their row number. The actors run the very function a local build runs
(`embed_passages_with_parts` of the same model), so the vectors are the local ones.

Addresses: `auto` (the cluster this machine belongs to), `ray://HOST:PORT` (Ray Client) or
`HOST:PORT` join an existing cluster; `local:N` starts N single-CPU nodes on this machine, on
loopback only, for trying it and for tests.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.embedding import ProgressFn
from qa.errors import ClusterError

INSTALL_HINT = "pip install 'newsqa[cluster]'"
_LOCAL = re.compile(r"local:(\d{1,3})")
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-]+:\d{1,5}")
MAX_LOCAL_NODES = 64
# Models with no GPU engine (qa/embedding.py): their actors take CPUs even on a GPU cluster.
CPU_ONLY_MODELS = ("use", "use-multilingual")


@dataclass(frozen=True)
class ClusterEmbedding:
    vectors: np.ndarray
    sentence_vectors: np.ndarray
    # Passages embedded per node (node id prefix → count): where the work went.
    per_node: dict[str, int]


def checked_address(value: str) -> str:
    """The address as given when it is one `--cluster` understands; ClusterError otherwise."""
    address = value.strip()
    local = _LOCAL.fullmatch(address)
    if local and 1 <= int(local.group(1)) <= MAX_LOCAL_NODES:
        return address
    if address == "auto" or address.startswith("ray://") or _HOST_PORT.fullmatch(address):
        return address
    raise ClusterError(
        f"--cluster {value!r} is not a cluster address: use auto, ray://HOST:PORT, HOST:PORT or local:N (1-{MAX_LOCAL_NODES})"
    )


def check_ready(address: str) -> None:
    """A bad address or a missing Ray is said before any work starts."""
    checked_address(address)
    try:
        import ray  # noqa: F401  (the driver runs in a child process; this one only checks)
    except ImportError as exc:
        raise ClusterError(f"--cluster needs Ray, which is not installed here: {INSTALL_HINT} ({exc})") from exc


def embed_on_cluster(
    address: str,
    settings: Settings,
    texts: Sequence[str],
    parts: Sequence[Sequence[tuple[int, int]]],
    model_id: str,
    progress: ProgressFn | None = None,
) -> ClusterEmbedding:
    """Passage and part (sentence) vectors of `texts`, as `embed_passages_with_parts` gives them,
    computed by the cluster's actors. `model_id` is this machine's: every actor must have the same.

    The Ray driver runs in a child process (`python -m qa.cluster`): when a cluster dies, Ray's core ends its driver's
    process from C++ after a reconnect timeout, and this process must outlive it to say so in one
    line and keep the old index."""
    address = checked_address(address)
    log_file = Path(tempfile.mkstemp(prefix="qa-cluster-", suffix=".log")[1])
    # A local cluster's sessions and logs live in a folder of their own, removed with it even when
    # the driver dies.
    scratch = Path(tempfile.mkdtemp(prefix="qa-ray-")) if _LOCAL.fullmatch(address) else None
    driver, to_driver, from_driver = _start_driver(log_file)
    try:
        to_driver.send((address, settings, str(scratch or ""), list(texts), [list(p) for p in parts]))
        done = _collected(_messages(from_driver, driver, address, log_file), len(texts), model_id, progress)
        driver.wait(30)
    finally:
        _stop(driver)
        to_driver.close()
        from_driver.close()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    log_file.unlink(missing_ok=True)  # kept when the build failed: the message names it
    return done


def _start_driver(log_file: Path) -> tuple[subprocess.Popen[bytes], Connection, Connection]:
    """`python -m qa.cluster` with a pipe each way. A fresh interpreter, not multiprocessing's spawn,
    which would import the caller's main script again (a script without a __main__ guard would run
    twice). Ray's own messages (C++ and Python) go to the log: the user sees one bar, or one line."""
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    env = dict(os.environ)
    # A driver whose cluster has gone waits this long (Ray's default: 60 s) before giving up.
    env.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", "10")
    # Ray would otherwise report usage to its makers from a cluster this driver starts.
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with log_file.open("ab") as log:
        driver = subprocess.Popen(
            [sys.executable, "-m", "qa.cluster", str(down_r), str(up_w)],
            pass_fds=(down_r, up_w),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
        )
    os.close(down_r)
    os.close(up_w)
    return driver, Connection(down_w, readable=False), Connection(up_r, writable=False)


def _messages(conn: Connection, driver: subprocess.Popen[bytes], address: str, log_file: Path) -> Iterator[dict[str, np.ndarray]]:
    """The driver's batches until it says it is done; ClusterError when it fails or dies."""
    joined = False
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, ConnectionError, OSError):
            try:
                code: int | None = driver.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            what = "went away during the build" if joined else "could not be reached"
            raise ClusterError(
                f"the Ray cluster at {address} {what} (driver exit code {code}; Ray's log: {log_file}); the index is unchanged"
            ) from None
        if kind == "joined":
            joined = True
        elif kind == "batch":
            yield payload
        elif kind == "error":
            raise ClusterError(f"{payload}; the index is unchanged (Ray's log: {log_file})")
        else:
            return


def _stop(driver: subprocess.Popen[bytes]) -> None:
    if driver.poll() is None:
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()


def _drive(down: Connection, up: Connection) -> None:
    """The driver process: join or start the cluster, run the pipeline, send each batch back."""
    logging.basicConfig(level=logging.WARNING)
    try:
        address, settings, scratch, texts, parts = down.recv()
        if _on_loopback(address):
            # Ray advertises, and dials, the machine's outside address instead of 127.0.0.1 unless
            # told it runs on one machine only (read when Ray is imported, which happens below).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        with _connected(address, Path(scratch) if scratch else None):
            up.send(("joined", None))
            for batch in _pipeline(settings, texts, parts):
                up.send(("batch", batch))
        up.send(("done", None))
    except ClusterError as exc:
        up.send(("error", str(exc)))
    except ImportError:
        up.send(("error", f"--cluster needs Ray on this machine: {INSTALL_HINT}"))
    except Exception as exc:  # Ray raises many kinds; the user needs one line.
        logging.exception("cluster build failed")
        up.send(("error", f"the cluster build failed: {_first_line(exc)}"))
    finally:
        up.close()


def _on_loopback(address: str) -> bool:
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    return bool(_LOCAL.fullmatch(address)) or host in ("127.0.0.1", "localhost")


@contextmanager
def _connected(address: str, scratch: Path | None) -> Iterator[None]:
    import ray

    local = _LOCAL.fullmatch(address)
    cluster = _start_local(int(local.group(1)), scratch or Path(tempfile.gettempdir())) if local else None
    try:
        try:
            ray.init(address=cluster.address if cluster else address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from exc
        if cluster:
            _check_loopback(ray.nodes())
        yield
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if cluster:
            cluster.shutdown()


def _start_local(nodes: int, scratch: Path) -> Any:
    from ray.cluster_utils import Cluster

    # Ray's test cluster also writes its address into Ray's default folder (/tmp/ray), which it
    # does not create: on a machine that never ran Ray it fails. Keep that file in the scratch too.
    os.environ["RAY_TMPDIR"] = str(scratch)
    (scratch / "ray").mkdir(parents=True, exist_ok=True)
    head = {"num_cpus": 1, "include_dashboard": False, "temp_dir": str(scratch)}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1, temp_dir=str(scratch))
    return cluster


def _check_loopback(nodes: list[dict[str, Any]]) -> None:
    """A local cluster must not listen beyond this machine: refuse to send work otherwise."""
    outside = sorted({n["NodeManagerAddress"] for n in nodes if n.get("Alive") and n["NodeManagerAddress"] != "127.0.0.1"})
    if outside:
        raise ClusterError(
            f"the local cluster's nodes listen on {', '.join(outside)}, not only on 127.0.0.1: "
            "set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before Ray is imported"
        )


def _workers(resources: dict[str, float], model: str) -> tuple[int, dict[str, Any], str]:
    """How many actors, what each asks of Ray, and the device each embeds on: one actor per GPU
    where the cluster has GPUs (and the model runs on one), else one single-threaded actor per CPU."""
    gpus = int(resources.get("GPU", 0)) if model.strip() not in CPU_ONLY_MODELS else 0
    if gpus:
        return gpus, {"num_cpus": 1, "num_gpus": 1}, "cuda"
    cpus = int(resources.get("CPU", 0))
    if cpus < 1:
        raise ClusterError("the Ray cluster has no CPU or GPU to embed with")
    return cpus, {"num_cpus": 1}, "cpu"


def _pipeline(settings: Settings, texts: list[str], parts: list[list[tuple[int, int]]]) -> Iterator[dict[str, np.ndarray]]:
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command draws one bar for the whole cluster
    context.print_on_execution_start = False

    workers, resources, device = _workers(ray.cluster_resources(), settings.model)
    logging.warning("embedding %d passages on %d %s workers", len(texts), workers, device)
    # Rows sorted by length, so that a batch (padded to its longest text) wastes little, and longest
    # first, so that the last batches, when workers run out of work one by one, are the shortest.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    items = [{"row": i, "text": texts[i], "parts": [x for span in parts[i] for x in span]} for i in order]
    # One block per batch (a task is a block): work is handed out in small units, up to 64 a worker.
    blocks = max(1, min(-(-len(items) // settings.batch_size), workers * 64))
    dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        EmbedWorker,
        fn_constructor_kwargs={
            "model": settings.model,
            "query_prompt": settings.query_prompt,
            "passage_prompt": settings.passage_prompt,
            "device": device,
            "batch_size": settings.batch_size,
        },
        batch_size=settings.batch_size,
        batch_format="numpy",
        # A fixed pool: work starts when the first actor is ready, and every worker gets a share.
        compute=ray.data.ActorPoolStrategy(size=workers),
        **resources,
    )
    yield from dataset.iter_batches(batch_size=None, batch_format="numpy")


def _collected(batches: Iterator[dict[str, np.ndarray]], n_texts: int, model_id: str, progress: ProgressFn | None) -> ClusterEmbedding:
    """The vectors in row order, checked: every row once, from the same model as this machine's."""
    vectors: np.ndarray | None = None
    sentences: list[np.ndarray | None] = [None] * n_texts
    per_node: dict[str, int] = {}
    for batch in batches:
        foreign = {str(m) for m in batch["model_id"]} - {model_id}
        if foreign:
            raise ClusterError(
                f"a cluster worker embeds with {foreign.pop()}, this machine with {model_id}: "
                "install the same newsqa and model packages on every node; the index is unchanged"
            )
        dim = batch["vector"].shape[1]
        if vectors is None:
            vectors = np.zeros((n_texts, dim), np.float32)
        for row, vector, flat, node in zip(batch["row"], batch["vector"], batch["sentences"], batch["node"], strict=True):
            vectors[int(row)] = vector
            sentences[int(row)] = np.asarray(flat, np.float32).reshape(-1, dim)
            per_node[str(node)] = per_node.get(str(node), 0) + 1
        if progress:
            progress(len(batch["row"]))
    missing = sum(s is None for s in sentences)
    if vectors is None or missing:
        raise ClusterError(f"the cluster returned no vector for {missing or n_texts} of {n_texts} passages; the index is unchanged")
    stacked = [s for s in sentences if s is not None]
    sentence_vectors = np.ascontiguousarray(np.concatenate(stacked), np.float32)
    return ClusterEmbedding(vectors, sentence_vectors, per_node)


class EmbedWorker:
    """A Ray actor: loads the embedder once, then embeds the batches Ray Data gives it."""

    def __init__(self, model: str, query_prompt: str, passage_prompt: str, device: str, batch_size: int) -> None:
        import ray

        from qa.embedding import load_embedder

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        # ONNX Runtime would size its pool from the host's cores, not the actor's share.
        self._embedder = load_embedder(model, query_prompt, passage_prompt, threads=max(1, int(cpus)), device=device)
        self._node = ray.get_runtime_context().get_node_id()[:12]
        self._batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        parts = [[(int(s), int(e)) for s, e in np.asarray(flat, np.int64).reshape(-1, 2)] for flat in batch["parts"]]
        vectors, sentence_vectors = self._embedder.embed_passages_with_parts(texts, parts, self._batch_size)
        per_row = np.empty(len(texts), dtype=object)  # rows have different sentence counts
        at = 0
        for i, p in enumerate(parts):
            per_row[i] = sentence_vectors[at : at + len(p)].reshape(-1)
            at += len(p)
        n = len(texts)
        return {
            "row": batch["row"],
            "vector": vectors,
            "sentences": per_row,
            "node": np.array([self._node] * n),
            "model_id": np.array([self._embedder.model_id] * n),
        }


_OUR_ERROR = re.compile(r"^qa\.errors\.\w+Error: (.+)$", re.MULTILINE)


def _first_line(exc: BaseException) -> str:
    """What to tell the user: our own error when a worker raised one (Ray wraps it in its own, with
    the worker's traceback), else the first line of Ray's."""
    text = str(exc).strip() or type(exc).__name__
    ours = _OUR_ERROR.findall(text)
    return (f"a cluster worker failed: {ours[-1]}" if ours else text.splitlines()[0])[:300]


if __name__ == "__main__":  # the driver process that embed_on_cluster starts
    # Through the module's import name: Ray then ships EmbedWorker by reference, not from __main__.
    from qa import cluster

    cluster._drive(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
