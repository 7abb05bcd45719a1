"""The systems compared: this project, the tutorial stack (LangChain + FAISS + all-MiniLM-L6-v2), BM25 alone.

Each builds an index folder from a folder of articles, loads it, searches, and answers. Heavy
imports stay inside the methods so a cold start measures only what that system needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

TUTORIAL_CHUNK = 1000
TUTORIAL_OVERLAP = 200


@dataclass(frozen=True)
class Found:
    """A passage a system returned: enough to score it against the evidence."""

    doc_id: str
    text: str


class System(Protocol):
    name: str

    def build(self, docs: Path, out: Path) -> int: ...

    # quick_start: the process answers one question and exits (as `qa ask` does).
    def load(self, out: Path, quick_start: bool = False) -> None: ...

    def search(self, question: str, k: int) -> list[Found]: ...

    # (text, abstained), or a qa.evaluation.Response with the quote, short answer and reranked passages.
    def answer(self, question: str) -> Any: ...


class ThisProject:
    """The `qa` package with its defaults: the answer is its quoted sentence, or an abstention."""

    name = "this project"

    def __init__(self) -> None:
        from qa.config import Settings

        self.settings = Settings.from_env(env={})
        self.retriever: Any = None

    def build(self, docs: Path, out: Path) -> int:
        from qa.indexing import build_index

        return build_index(docs, out, self.settings, rebuild=True).chunks_total

    def load(self, out: Path, quick_start: bool = False) -> None:
        from qa.retrieval import Retriever

        self.retriever = Retriever.load(out, self.settings, quick_start=quick_start)

    def search(self, question: str, k: int) -> list[Found]:
        return [Found(h.doc_id, h.text) for h in self.retriever.search(question, k)]

    def answer(self, question: str) -> Any:
        from qa.answer import answer
        from qa.evaluation import Response

        return Response.of(answer(question, self.retriever))


class FirstPassageAnswers:
    """The baselines' answer: their first passage, as a tutorial would show it; empty means abstained."""

    def search(self, question: str, k: int) -> list[Found]:
        raise NotImplementedError

    def answer(self, question: str) -> tuple[str, bool]:
        found = self.search(question, 1)
        return (found[0].text, False) if found else ("", True)


def langchain_community() -> Any:
    """The langchain_community modules the tutorial uses, imported without its sunset warnings."""
    import importlib
    import types
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = ("document_loaders", "embeddings", "vectorstores")
        return types.SimpleNamespace(**{n: importlib.import_module(f"langchain_community.{n}") for n in names})


class Tutorial(FirstPassageAnswers):
    """What LangChain's RAG tutorials show: DirectoryLoader, RecursiveCharacterTextSplitter(1000, 200),
    HuggingFaceEmbeddings(all-MiniLM-L6-v2) and the FAISS vector store, all with their defaults.
    Its first passage is its answer; it never abstains."""

    name = "tutorial stack"

    def __init__(self) -> None:
        self.lc = langchain_community()
        self.store: Any = None

    def _embeddings(self) -> Any:
        from qa.embedding import minilm_path

        return self.lc.embeddings.HuggingFaceEmbeddings(model_name=minilm_path())

    def build(self, docs: Path, out: Path) -> int:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        loaders = self.lc.document_loaders
        loader = loaders.DirectoryLoader(str(docs), glob="*.*", loader_cls=loaders.TextLoader, loader_kwargs={"encoding": "utf-8"})
        splitter = RecursiveCharacterTextSplitter(chunk_size=TUTORIAL_CHUNK, chunk_overlap=TUTORIAL_OVERLAP)
        chunks = splitter.split_documents(loader.load())
        self.lc.vectorstores.FAISS.from_documents(chunks, self._embeddings()).save_local(str(out))
        return len(chunks)

    def load(self, out: Path, quick_start: bool = False) -> None:
        # The store's docstore is a pickle we wrote ourselves a moment ago.
        self.store = self.lc.vectorstores.FAISS.load_local(str(out), self._embeddings(), allow_dangerous_deserialization=True)

    def search(self, question: str, k: int) -> list[Found]:
        return [Found(Path(d.metadata["source"]).stem, d.page_content) for d in self.store.similarity_search(question, k=k)]


def bm25_stopwords() -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    return sorted(set(STOPWORDS_EN) | set(STOPWORDS_FRENCH))


class Bm25(FirstPassageAnswers):
    """BM25 alone (bm25s) over this project's passages, French and English stop words removed.
    Its first passage is its answer; it never abstains."""

    name = "BM25 (bm25s)"

    def __init__(self) -> None:
        self.model: Any = None
        self.passages: list[Found] = []
        self.stopwords = bm25_stopwords()

    def build(self, docs: Path, out: Path) -> int:
        import bm25s

        from qa.chunking import chunk_article
        from qa.config import Settings
        from qa.corpus import load_articles

        settings = Settings.from_env(env={})
        articles, _ = load_articles(docs)
        passages = [p for a in articles for p in chunk_article(a, settings.chunk_size, settings.chunk_overlap)]
        model = bm25s.BM25()
        model.index(bm25s.tokenize([p.text for p in passages], stopwords=self.stopwords, show_progress=False), show_progress=False)
        model.save(str(out))
        with open(Path(out) / "passages.jsonl", "w", encoding="utf-8") as fh:
            for p in passages:
                fh.write(json.dumps({"doc_id": p.doc_id, "text": p.text}, ensure_ascii=False) + "\n")
        return len(passages)

    def load(self, out: Path, quick_start: bool = False) -> None:
        import bm25s

        self.model = bm25s.BM25.load(str(out))
        with open(Path(out) / "passages.jsonl", encoding="utf-8") as fh:
            self.passages = [Found(**json.loads(line)) for line in fh]

    def search(self, question: str, k: int) -> list[Found]:
        import bm25s

        tokens = bm25s.tokenize([question], stopwords=self.stopwords, show_progress=False)
        k = min(k, len(self.passages))
        ids, scores = self.model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [self.passages[int(i)] for i, s in zip(ids[0], scores[0], strict=True) if s > 0]


SYSTEMS: dict[str, type] = {"project": ThisProject, "tutorial": Tutorial, "bm25": Bm25}


def make(key: str) -> System:
    return SYSTEMS[key]()
