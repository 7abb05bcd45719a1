"""Question → the best passages, each with its article's metadata, offsets and score."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.chunking import Passage
from qa.config import Settings
from qa.crosslingual import language_direction
from qa.embedding import Embedder, load_embedder
from qa.errors import IndexStaleError, IndexUnusableError, QuestionError
from qa.store import StoredIndex, current_version, read_index, search_faiss

if TYPE_CHECKING:
    from qa.reader import Reader

# Two passages of one article that share more than this share of the shorter one are the
# same evidence twice (chunk overlap): only the better one is returned.
MAX_SHARED = 0.3
# A search within chosen articles scores their passages exactly (their vectors are memory-mapped)
# up to this many passages; past it, FAISS searches the index with a selector of those passages.
EXACT_WITHIN = 10_000
_ISO_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class Filters:
    """The articles a search, and so an answer, may draw on: chosen ids, a source (publisher or
    the link's site, case and accents aside), a date range (YYYY, YYYY-MM or YYYY-MM-DD; an
    article dated "2024-04" is within "since 2024-04-10"). Empty: every article.

    Bad values raise QuestionError (a ValueError) in one line, when the record is made."""

    doc_ids: tuple[str, ...] = ()
    source: str = ""
    since: str = ""
    until: str = ""

    def __post_init__(self) -> None:
        ids = (self.doc_ids,) if isinstance(self.doc_ids, str) else tuple(self.doc_ids or ())
        object.__setattr__(self, "doc_ids", tuple(dict.fromkeys(str(i).strip() for i in ids if str(i).strip())))
        object.__setattr__(self, "source", " ".join((self.source or "").split()))
        for name in ("since", "until"):
            value = (getattr(self, name) or "").strip()
            if value and date_range(value) is None:
                raise QuestionError(f"{name}: {value!r} is not a date; write it as 2024-04-10, 2024-04 or 2024")
            object.__setattr__(self, name, value)
        if self.since and self.until and date_range(self.since)[0] > date_range(self.until)[1]:  # type: ignore[index]
            raise QuestionError(f"since {self.since} is after until {self.until}: no date is in between")

    def __bool__(self) -> bool:
        return bool(self.doc_ids or self.source or self.since or self.until)

    def admits(self, article: dict[str, Any]) -> bool:
        """Whether an article (its index record: id, source, url, date) is within the choice."""
        if self.doc_ids and article.get("id") not in self.doc_ids:
            return False
        if self.source and not source_matches(self.source, article.get("source", ""), article.get("url", "")):
            return False
        if self.since or self.until:
            dated = date_range(article.get("date", ""))
            if dated is None:
                return False
            if self.since and dated[1] < date_range(self.since)[0]:  # type: ignore[index]
                return False
            if self.until and dated[0] > date_range(self.until)[1]:  # type: ignore[index]
                return False
        return True

    def describe(self) -> str:
        """The choice in words, for messages: "articles a, b; source AFP; since 2024-04-01"."""
        parts = [f"article(s) {', '.join(self.doc_ids)}"] if self.doc_ids else []
        parts += [f"source {self.source}"] if self.source else []
        parts += [f"since {self.since}"] if self.since else []
        parts += [f"until {self.until}"] if self.until else []
        return "; ".join(parts)


def date_range(text: str) -> tuple[str, str] | None:
    """The first and last day an ISO date stands for ("2024-04" → 2024-04-01, 2024-04-31), or None."""
    m = _ISO_DATE.match((text or "").strip())
    if not m:
        return None
    year, month, day = m.group(1), m.group(2), m.group(3)
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None
    if day:
        return f"{year}-{month}-{day}", f"{year}-{month}-{day}"
    if month:
        return f"{year}-{month}-01", f"{year}-{month}-31"
    return f"{year}-01-01", f"{year}-12-31"


def source_matches(wanted: str, source: str, url: str) -> bool:
    """Whether the source asked for names this publisher: part of its name ("presse"), its
    initials ("AFP" for Agence France-Presse), or its site ("cryptoslate.com")."""
    w, name = folded(wanted), folded(source)
    initials = "".join(word[0] for word in re.split(r"[\s-]+", name) if word)
    return bool(w) and (w in name or w == initials or w in folded(site_of(url)))


def folded(text: str) -> str:
    """Lower case, accents and spacing aside: how a source is compared."""
    return " ".join(unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode().split())


def site_of(url: str) -> str:
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip(), flags=re.I).split("/", 1)[0].split("@")[-1]
    return host.removeprefix("www.")


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
        self._rows: dict[str, np.ndarray] | None = None  # passage rows per article, made on first use
        # The encoder's language, taken out of every score (qa/crosslingual.py); None for a model it was not measured on.
        self.direction = language_direction(embedder.model_id)

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
        """The first passage of the article whose text holds `value`, and where in it; else, for a
        publisher, author or dateline written outside the story (a byline, a footer), those very
        characters as a citation of their own."""
        for i, p in enumerate(self.stored.passages):
            if p.doc_id == doc_id and value in p.text:
                q = np.zeros(self.embedder.dim, np.float32)
                return self._scored(i, 0.0, q), p.text.index(value)
        a = self.stored.articles.get(doc_id, {})
        for field_name, start, end in a.get("written", ()):
            if a.get(field_name) == value:
                return self._metadata_hit(doc_id, start, end, value), 0
        return None

    def article_text(self, doc_id: str) -> str:
        """The article's title and story as its passages hold them (overlaps repeated): enough to
        tell whether it names a place or a company."""
        rows = self._rows_by_article().get(doc_id, np.zeros(0, np.int64))
        return "\n".join([self.articles.get(doc_id, {}).get("title", ""), *(self.stored.passages[i].text for i in rows)])

    def _metadata_hit(self, doc_id: str, start: int, end: int, value: str) -> Hit:
        a = self.stored.articles.get(doc_id, {})
        about = {k: a.get(k, "") for k in ("date", "place", "source", "path", "author", "url", "dateline")}
        return Hit(doc_id, start, end, value, 0.0, a.get("title", doc_id), sentences=((0, len(value)),), sentence_scores=(0.0,), **about)

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

    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> list[Hit]:
        """The k best passages for the query, best first, without overlapping duplicates; with
        `filters`, the best among the chosen articles' passages only."""
        text = clean_question(query, self.settings.max_query_chars)
        chosen = self.passages_within(filters)  # bad filters fail before the query is embedded
        return self._search(self.embedder.embed_query(text), k, chosen)

    def search_vector(self, vector: np.ndarray, k: int | None = None, filters: Filters | None = None) -> list[Hit]:
        return self._search(vector, k, self.passages_within(filters))

    def passages_within(self, filters: Filters | None) -> np.ndarray | None:
        """The rows of the chosen articles' passages (None: no choice, every passage). Raises
        QuestionError for an id the index does not have, or a choice no article is in."""
        if not filters:
            return None
        unknown = [i for i in filters.doc_ids if i not in self.articles]
        if unknown:
            raise QuestionError(f"no article {', '.join(repr(i) for i in unknown)} in the index")
        rows = self._rows_by_article()
        admitted = [rows[a] for a, record in self.articles.items() if a in rows and filters.admits({"id": a, **record})]
        if not admitted:
            raise QuestionError(f"no article in the index is within the choice ({filters.describe()})")
        return np.sort(np.concatenate(admitted))

    def _rows_by_article(self) -> dict[str, np.ndarray]:
        if self._rows is None:
            by_doc: dict[str, list[int]] = {}
            for i, p in enumerate(self.stored.passages):
                by_doc.setdefault(p.doc_id, []).append(i)
            self._rows = {d: np.asarray(r, np.int64) for d, r in by_doc.items()}
        return self._rows

    def _search(self, vector: np.ndarray, k: int | None, chosen: np.ndarray | None) -> list[Hit]:
        k = self.settings.top_k if k is None else k
        n = len(self) if chosen is None else len(chosen)
        if n == 0 or k <= 0:
            return []
        q = np.asarray(vector, np.float32).reshape(1, -1)
        if self.direction is not None:
            q = self.direction.query(q)
        # Candidates by passage vector, then reranked by the mean of the passage score and its
        # best sentence score: a passage that holds one sentence answering the question beats a
        # passage that is only about the same topic (measured: docs/experiments.md, "retrieval sweep").
        wanted = min(n, max(40, 8 * k))
        if chosen is None:
            scores, ids = search_faiss(self.stored.faiss_index, q, wanted)
        else:
            scores, ids = self.candidates_within(q, chosen, wanted)
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

    def candidates_within(self, q: np.ndarray, chosen: np.ndarray, wanted: int, exact_max: int = EXACT_WITHIN) -> tuple[np.ndarray, np.ndarray]:
        """The `wanted` best of the chosen passages (FAISS's shapes: scores and ids, 1 × wanted).
        Within the choice, not a global top-k filtered afterwards: a few thousand passages are
        scored exactly from their memory-mapped vectors; more are searched by FAISS with a
        selector that admits only them."""
        if len(chosen) <= exact_max:
            scores = np.asarray(self.stored.vectors[chosen], np.float32) @ q[0]
            top = np.argsort(-scores, kind="stable")[:wanted]
            return scores[top].reshape(1, -1), chosen[top].reshape(1, -1)
        import faiss

        params = selector_params(self.stored.faiss_index, faiss.IDSelectorBatch(chosen))
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # as search_faiss: one query, this thread alone
        try:
            return self.stored.faiss_index.search(q, wanted, params=params)
        finally:
            faiss.omp_set_num_threads(threads)

    def _scored(self, i: int, passage_score: float, q: np.ndarray) -> Hit:
        p = self.stored.passages[i]
        rows = self.stored.sentence_rows
        sentences = self.stored.sentence_vectors[rows[i] : rows[i + 1]]
        sentence_scores = sentences @ q
        if self.direction is not None:
            passage_score = float(self.direction.rescaled(np.float32(passage_score), self.stored.vectors[i]))
            sentence_scores = self.direction.rescaled(sentence_scores, sentences)
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


def selector_params(index: Any, selector: Any) -> Any:
    """FAISS search parameters that admit only the selector's ids, of the kind the index takes
    (its own efSearch or nprobe kept)."""
    import faiss

    inner = faiss.downcast_index(index)
    if hasattr(inner, "hnsw"):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=inner.hnsw.efSearch)
    if hasattr(inner, "nprobe"):
        return faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
    return faiss.SearchParameters(sel=selector)


def _overlaps(a: Hit | Passage, b: Hit | Passage) -> bool:
    if a.doc_id != b.doc_id:
        return False
    shared = min(a.end, b.end) - max(a.start, b.start)
    return shared > MAX_SHARED * min(a.end - a.start, b.end - b.start)
