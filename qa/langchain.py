"""The articles as a LangChain retriever: the passages `qa search` finds, as `Document`s.

    from qa.langchain import ArticleRetriever
    retriever = ArticleRetriever(index_dir="index", k=4)
    docs = retriever.invoke("Combien AWS va-t-il investir au Japon ?")
    docs[0].page_content, docs[0].metadata["doc_id"], docs[0].metadata["start"]

`page_content` is the passage's text, exactly the characters `start`..`end` of the stored article
`doc_id`, so a citation made from it points into the article. The index is loaded once, when the
retriever is made (IndexMissingError and the other qa errors say what to run). Needs
`pip install 'newsqa[langchain]'` (langchain-core); nothing else in `qa` imports LangChain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr

from qa.config import Settings
from qa.retrieval import Hit, Retriever

METADATA = ("doc_id", "title", "source", "date", "url", "start", "end", "score")


class ArticleRetriever(BaseRetriever):
    """The k passages of the news articles that best match a query, best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index_dir: Path | str | None = None  # default: the settings' (QA_INDEX_DIR, ./index)
    k: int = Field(default=4, ge=1, le=100)
    settings: Settings | None = None  # default: Settings.from_env()
    retriever: Retriever | None = Field(default=None, exclude=True)  # an index already loaded, shared
    _loaded: Retriever = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._loaded = self.retriever or Retriever.load(self.index_dir, self.settings or Settings.from_env())

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [document(h) for h in self._loaded.search(query, k=self.k)]


def document(hit: Hit) -> Document:
    return Document(page_content=hit.text, metadata={key: getattr(hit, key) for key in METADATA}, id=f"{hit.doc_id}:{hit.start}")
