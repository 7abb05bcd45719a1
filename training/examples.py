"""The reader's training and dev examples, and the frozen bottom layers' outputs for them.

An example is a question with one passage as the product cuts it (qa/chunking.py), token ids and
the answer's first and last tokens; (0, 0), the `<s>` token, means "no answer in this passage"
(SQuAD 2.0's convention). The passages without the answer are what the reader must turn down at
answer time: the ones the product's own search ranks highest for the question (mined once over the
train collection and cached), now and then another passage of the same article or of another one.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np

from qa.config import Settings
from training.common import CACHE, PIAF, PIAF_QUESTIONS, QUESTIONS, indexed_retriever, log

READER_CACHE = CACHE / "reader"
# English translations, written here, of 240 train questions: the product is asked in English of
# French articles, and PIAF's questions are all French.
ENGLISH = QUESTIONS / "piaf_train_en_reader.jsonl"
DRAWS = 13  # seed of the examples' draws (the reader's own seed, model.SEED, leaves them as they are)
NEGATIVE_SAME_ARTICLE = 0.5  # probability of one more negative from the same article
NEGATIVE_OTHER_ARTICLE = 0.2  # probability of one more negative from another article
HARD_NEGATIVES = 2  # the search's best passages without the answer, per question
# The product's own passages: the reader is trained on what it will read.
WINDOW, OVERLAP = Settings.chunk_size, Settings.chunk_overlap


def piaf_questions(split: str) -> list[dict]:
    """The split's questions; for `train`, the English translations too, after every French one
    (each with its source's article and paragraph)."""
    rows = [json.loads(line) for line in PIAF_QUESTIONS.open(encoding="utf-8")]
    if split == "train":
        by_id = {r["id"]: r for r in rows}
        rows += [{**by_id[t["source"]], **t, "split": "train"} for t in map(json.loads, ENGLISH.open(encoding="utf-8"))]
    return [r for r in rows if r["split"] == split]


def hard_negatives() -> dict[str, list[tuple[str, int, int]]]:
    """For each train question, the HARD_NEGATIVES passages the product's own search ranks highest
    that do not hold the answer, as (doc, start, end); mined over the train articles, cached."""
    from qa.evaluation import eval_collection, has_key, load_questions

    cache = READER_CACHE / f"hard-negatives-train-{HARD_NEGATIVES}.json"
    if cache.exists():
        return {k: [tuple(x) for x in v] for k, v in json.loads(cache.read_text()).items()}
    questions = load_questions(PIAF_QUESTIONS, "train")
    folder = eval_collection(PIAF_QUESTIONS, questions)
    assert folder is not None
    r = indexed_retriever(folder / "seeds", folder / "index")
    out: dict[str, list[tuple[str, int, int]]] = {}
    t0 = time.time()
    for q in questions:
        hits = r.search(q["question"], k=HARD_NEGATIVES + 3)
        out[q["id"]] = [(h.doc_id, h.start, h.end) for h in hits if not has_key(h.text, q["answers"])][:HARD_NEGATIVES]
    log(f"hard negatives for {len(questions)} questions in {time.time() - t0:.0f} s")
    READER_CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    return out


class Pieces:
    """The PIAF articles of a set of questions as the product reads them, their passages as it cuts
    them, and each passage's tokens (computed once)."""

    def __init__(self, docs: list[str], tok) -> None:  # type: ignore[no-untyped-def]
        from qa.chunking import chunk_article
        from qa.corpus import read_article

        self.tok = tok
        self.docs = docs
        self.articles = {d: read_article(PIAF / "corpus" / f"{d}.txt") for d in sorted(docs)}
        self.passages = {d: chunk_article(a, WINDOW, OVERLAP) for d, a in self.articles.items()}
        self.index = {(d, p.start, p.end): i for d, ps in self.passages.items() for i, p in enumerate(ps)}
        self._tokens: dict[tuple[str, int], tuple[list[int], list[tuple[int, int]]]] = {}

    def tokens(self, doc: str, i: int) -> tuple[list[int], list[tuple[int, int]]]:
        """Passage `i` of `doc`: its token ids and each token's characters."""
        if (doc, i) not in self._tokens:
            p = self.passages[doc][i]
            self._tokens[(doc, i)] = self.tok.with_offsets(self.articles[doc].text[p.start : p.end])
        return self._tokens[(doc, i)]


def build_examples(split: str, tok, rng: random.Random, hard: dict | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    """(question, passage) pairs with token labels: for each question, every passage that holds its
    answer, then passages without it (`negatives`; `hard`: the search's, by question). Dev's English questions are left out (measured,
    never trained on)."""
    questions = piaf_questions(split)
    pieces = Pieces(sorted({q["doc"] for q in questions}), tok)
    examples: list[dict] = []
    lost: Counter = Counter()
    for q in questions:
        if q["lang"] != "fr" and q["split"] != "train":
            continue
        q_ids = tok.ids("query: " + q["question"])
        found = answered(q, q_ids, pieces, lost)
        if found is None:  # no passage of it to learn from, nor to turn down
            continue
        examples += found + negatives(q, q_ids, pieces, rng, hard or {})
    log(f"{split}: {len(examples)} examples ({sum(e['start'] > 0 for e in examples)} answerable); lost {dict(lost)}")
    return examples


def answered(q: dict, q_ids: list[int], pieces: Pieces, lost: Counter) -> list[dict] | None:
    """The question with each passage that holds its answer (the answer's first occurrence after its
    context), labelled with the answer's tokens; None when the article does not write the answer.
    What cannot be labelled is counted in `lost`."""
    text = pieces.articles[q["doc"]].text
    answer = q["answers"][0]
    a0 = text.find(answer, max(text.find(q["context"]), 0))
    if a0 < 0:
        lost["answer not found"] += 1
        return None
    a1 = a0 + len(answer)
    holding = [i for i, p in enumerate(pieces.passages[q["doc"]]) if p.start <= a0 and a1 <= p.end]
    if not holding:
        lost["answer across passages"] += 1
    out = []
    for i in holding:
        ids, spans = pieces.tokens(q["doc"], i)
        start = pieces.passages[q["doc"]][i].start
        example = span_example(q_ids, ids, spans, a0 - start, a1 - start, q["id"], pieces.tok)
        if example is None:
            lost["answer truncated"] += 1
        else:
            out.append(example)
    return out


def negatives(q: dict, q_ids: list[int], pieces: Pieces, rng: random.Random, hard: dict) -> list[dict]:
    """The question with passages that do not hold its answer, labelled "no answer": the search's
    best ones (`hard`, by the question's id or, for a translation, its source's), and now and then
    another passage of its article (always when the search gave none) and one of another article."""
    from qa.evaluation import has_key
    from qa.reader import pair_ids

    doc = q["doc"]
    picks = [(d, pieces.index[(d, s, e)]) for d, s, e in hard.get(q.get("source", q["id"]), []) if (d, s, e) in pieces.index]
    if not picks or rng.random() < NEGATIVE_SAME_ARTICLE:
        same = [i for i, p in enumerate(pieces.passages[doc]) if not has_key(p.text, q["answers"])]
        extra = [(doc, i) for i in same if (doc, i) not in picks]
        picks += rng.sample(extra, min(1, len(extra)))
    if rng.random() < NEGATIVE_OTHER_ARTICLE:
        other = rng.choice([d for d in pieces.docs if d != doc])
        picks.append((other, rng.randrange(len(pieces.passages[other]))))
    out = []
    for d, i in picks:
        seq, first = pair_ids(q_ids, pieces.tokens(d, i)[0], pieces.tok)
        out.append({"ids": seq, "start": 0, "end": 0, "q": q["id"], "first": first})
    return out


def span_example(q_ids: list[int], ids: list[int], spans: list[tuple[int, int]], s_rel: int, e_rel: int, qid: str, tok) -> dict | None:  # type: ignore[no-untyped-def]
    """The question with a passage whose characters [s_rel, e_rel) are the answer, labelled with the
    answer's first and last tokens; None when the pair's length limit cuts the answer off."""
    from qa.reader import pair_ids

    seq, first = pair_ids(q_ids, ids, tok)
    n = len(seq) - first - 1
    starts = [t for t in range(n) if spans[t][1] > s_rel]
    ends = [t for t in range(n) if spans[t][0] < e_rel]
    if not starts or not ends or ends[-1] < starts[0] or spans[ends[-1]][1] < e_rel:
        return None
    return {"ids": seq, "start": first + starts[0], "end": first + ends[-1], "q": qid, "first": first}


def frozen_states(examples: list[dict], engine, n_frozen: int, name: str) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """The bottom `n_frozen` layers' outputs for every example (float16), run on ONNX Runtime exactly
    as at answer time, computed once and cached on disk under `name` and a hash of the examples."""
    import onnxruntime as ort

    from qa.e5_onnx import encoder_graph, encoder_session

    key = hashlib.sha256(json.dumps([e["ids"] for e in examples]).encode() + str(n_frozen).encode()).hexdigest()[:16]
    path = READER_CACHE / f"{name}-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return [data[f"a{i}"] for i in range(len(examples))]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = encoder_session(encoder_graph(engine.weights, n_layers=n_frozen), options, ["CPUExecutionProvider"])
    out: list[np.ndarray | None] = [None] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["ids"]))
    t0 = time.time()
    for lo in range(0, len(order), 32):
        rows = order[lo : lo + 32]
        longest = max(len(examples[i]["ids"]) for i in rows)
        ids = np.full((len(rows), longest), engine.weights.config["pad"], np.int64)
        mask = np.zeros((len(rows), longest), np.int32)
        for r, i in enumerate(rows):
            ids[r, : len(examples[i]["ids"])] = examples[i]["ids"]
            mask[r, : len(examples[i]["ids"])] = 1
        hidden = session.run(None, {"embeddings": engine._embeddings(ids), "mask": mask})[0]
        for r, i in enumerate(rows):
            out[i] = hidden[r, : len(examples[i]["ids"])].astype(np.float16)
    log(f"cached the bottom {n_frozen} layers for {len(examples)} examples in {time.time() - t0:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{f"a{i}": a for i, a in enumerate(out)})
    return out  # type: ignore[return-value]


def train_set(tok, engine, n_frozen: int) -> tuple[list[dict], list[np.ndarray]]:  # type: ignore[no-untyped-def]
    """The train examples (French questions, then their English translations) and their cached states."""
    train = build_examples("train", tok, random.Random(DRAWS), hard=hard_negatives())
    return train, frozen_states(train, engine, n_frozen, "train")


def dev_set(tok, engine, n_frozen: int) -> tuple[list[dict], list[np.ndarray], dict[str, dict]]:  # type: ignore[no-untyped-def]
    """PIAF dev's windows as every reader is measured on them (model.evaluate), their cached
    bottom-layer states, and the dev questions by id."""
    dev = build_examples("dev", tok, random.Random(DRAWS + 1))
    return dev, frozen_states(dev, engine, n_frozen, "dev"), {q["id"]: q for q in piaf_questions("dev")}


def cache_file(name: str) -> Path:
    """A file of the reader's cache (checkpoints, the second seed's reader)."""
    READER_CACHE.mkdir(parents=True, exist_ok=True)
    return READER_CACHE / name
