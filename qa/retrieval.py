"""Question → the best passages, each with its article's metadata, offsets and score."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.chunking import Passage
from qa.config import Settings
from qa.embedding import Embedder, load_embedder
from qa.errors import IndexStaleError, IndexUnusableError, QuestionError
from qa.store import StoredIndex, current_version, read_index, search_faiss

if TYPE_CHECKING:
    from qa.reader import Reader

# Two passages of one article that share more than this share of the shorter one are the
# same evidence twice (chunk overlap): only the better one is returned.
MAX_SHARED = 0.3


@dataclass(frozen=True)
class Hit:
    doc_id: str
    start: int
    end: int
    text: str
    score: float
    title: str
    date: str = ""
    place: str = ""
    source: str = ""
    path: str = ""
    author: str = ""
    url: str = ""
    # The article's dateline as written ("Tokyo, April 2024"), where its date and place were read.
    dateline: str = ""
    passage_no: int = -1
    # The passage's sentences (offsets inside `text`) with their similarity to the question;
    # `best_sentence` indexes the one that answers best (highlighted in the chat).
    sentences: tuple[tuple[int, int], ...] = ()
    sentence_scores: tuple[float, ...] = ()
    passage_score: float = 0.0

    @property
    def best_sentence(self) -> int:
        return max(range(len(self.sentence_scores)), key=self.sentence_scores.__getitem__) if self.sentence_scores else -1

    @property
    def best_sentence_text(self) -> str:
        i = self.best_sentence
        return self.text[slice(*self.sentences[i])] if i >= 0 else self.text

    @property
    def about(self) -> str:
        """Who published the article, when and where: the one source line the command, the API and
        the chat all show after the title."""
        return ", ".join(x for x in (self.source, self.author, self.date, self.place) if x)

    def to_dict(self) -> dict[str, Any]:
        """The hit as the command's --json, the JSON API and the answer's citations give it."""
        i = self.best_sentence
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "date": self.date,
            "place": self.place,
            "author": self.author,
            "url": self.url,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "text": self.text,
            # Offsets inside `text` of the sentence that answers best, and the sentence.
            "sentence": list(self.sentences[i]) if i >= 0 else None,
            "best_sentence": self.best_sentence_text,
        }


def clean_question(question: object, max_chars: int) -> str:
    """The question as it will be embedded; refuses what is not text, and empty or blank questions."""
    if question is None:
        question = ""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    text = " ".join(readable(question).split())
    if not text or not any(ch.isalnum() for ch in text):
        raise QuestionError("the question is empty: type a question about the articles")
    if len(text) > max_chars:
        # Keep the start of a long paste: the model reads 512 tokens at most anyway.
        cut = text[:max_chars]
        text = cut.rsplit(" ", 1)[0] if " " in cut[-100:] else cut
    return text


def readable(text: str) -> str:
    """The text with what cannot be encoded (lone surrogates: invalid bytes in a command-line
    argument, broken JSON escapes) replaced by U+FFFD, so that no later step fails on it."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


class Retriever:
    """A loaded index and the embedder it was built with. Safe to share between threads."""

    def __init__(self, stored: StoredIndex, embedder: Embedder, settings: Settings, index_dir: Path) -> None:
        self.stored = stored
        self.embedder = embedder
        self.settings = settings
        self.index_dir = index_dir

    @classmethod
    def load(cls, index_dir: Path | str | None = None, settings: Settings | None = None, quick_start: bool = False) -> Retriever:
        """Load the index; raises IndexMissingError, IndexCorruptError or IndexStaleError with what to run.

        `quick_start` picks the model engine that loads fastest over the one that embeds fastest:
        for a process that answers one question and exits."""
        settings = settings or Settings.from_env()
        path = Path(index_dir) if index_dir is not None else settings.index_dir
        stored = read_index(path)
        m = stored.manifest
        if m.get("chunking") != settings.chunking_signature():
            raise IndexStaleError(
                f"the index in {path} was built with chunking {m.get('chunking')}, the settings ask for "
                f"{settings.chunking_signature()}: run `qa index --rebuild`"
            )
        embedder = load_embedder(settings.model, settings.query_prompt, settings.passage_prompt, quick_start)
        # One rule with indexing.reusable_index: the vectors' model and size, not the setting's name.
        if embedder.model_id != m.get("model_id") or embedder.dim != m.get("dim"):
            raise IndexStaleError(
                f"the index in {path} was built with {m.get('model_id')}, the settings ask for {embedder.model_id} "
                f"(model {settings.model!r}): run `qa index --rebuild`"
            )
        return cls(stored, embedder, settings, path)

    @property
    def reader(self) -> Reader:
        """The extractive reader, loaded on first use and shared by every thread."""
        from qa.reader import load_reader

        return load_reader(getattr(self.embedder, "onnx_engine", None))

    def locate(self, doc_id: str, value: str) -> tuple[Hit, int] | None:
        """The first passage of the article whose text holds `value`, and where in it."""
        for i, p in enumerate(self.stored.passages):
            if p.doc_id == doc_id and value in p.text:
                q = np.zeros(self.embedder.dim, np.float32)
                return self._scored(i, 0.0, q), p.text.index(value)
        return None

    @property
    def manifest(self) -> dict[str, Any]:
        return self.stored.manifest

    def is_current(self) -> bool:
        """Whether this is still the index in force: a build in another process (another server, a
        cluster build) switches the folder's CURRENT pointer, and servers reading it can follow."""
        try:
            return current_version(self.index_dir) == self.stored.folder
        except IndexUnusableError:
            return True  # nothing better to switch to

    @property
    def articles(self) -> dict[str, dict[str, Any]]:
        return self.stored.articles

    def __len__(self) -> int:
        return len(self.stored.passages)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The k best passages for the query, best first, without overlapping duplicates."""
        text = clean_question(query, self.settings.max_query_chars)
        return self.search_vector(self.embedder.embed_query(text), k)

    def search_vector(self, vector: np.ndarray, k: int | None = None) -> list[Hit]:
        k = self.settings.top_k if k is None else k
        n = len(self)
        if n == 0 or k <= 0:
            return []
        q = np.asarray(vector, np.float32).reshape(1, -1)
        # Candidates by passage vector, then reranked by the mean of the passage score and its
        # best sentence score: a passage that holds one sentence answering the question beats a
        # passage that is only about the same topic (measured in bench/experiments.py).
        wanted = min(n, max(40, 8 * k))
        scores, ids = search_faiss(self.stored.faiss_index, q, wanted)
        candidates = [self._scored(int(i), float(sc), q[0]) for sc, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        candidates.sort(key=lambda h: -h.score)
        hits: list[Hit] = []
        for hit in candidates:
            if any(_overlaps(hit, kept) for kept in hits):
                continue
            hits.append(hit)
            if len(hits) == k:
                break
        return hits

    def _scored(self, i: int, passage_score: float, q: np.ndarray) -> Hit:
        p = self.stored.passages[i]
        rows = self.stored.sentence_rows
        sentence_scores = self.stored.sentence_vectors[rows[i] : rows[i + 1]] @ q
        best = float(sentence_scores.max()) if len(sentence_scores) else passage_score
        a = self.stored.articles.get(p.doc_id, {})
        return Hit(
            doc_id=p.doc_id,
            start=p.start,
            end=p.end,
            text=p.text,
            score=(passage_score + best) / 2,
            title=a.get("title", p.doc_id),
            date=a.get("date", ""),
            place=a.get("place", ""),
            source=a.get("source", ""),
            path=a.get("path", ""),
            author=a.get("author", ""),
            url=a.get("url", ""),
            dateline=a.get("dateline", ""),
            passage_no=i,
            sentences=p.sentences,
            sentence_scores=tuple(float(x) for x in sentence_scores),
            passage_score=passage_score,
        )


def _overlaps(a: Hit | Passage, b: Hit | Passage) -> bool:
    if a.doc_id != b.doc_id:
        return False
    shared = min(a.end, b.end) - max(a.start, b.start)
    return shared > MAX_SHARED * min(a.end - a.start, b.end - b.start)
