"""The LangChain retriever over the real seeds index, alone and inside an LCEL chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

import qa
from qa.langchain import ArticleRetriever
from tests.conftest import MS_ID


def test_documents_are_the_passages_with_their_citation_data(seeds_index: Path, settings: qa.Settings) -> None:
    docs = ArticleRetriever(index_dir=seeds_index, k=3, settings=settings).invoke("How much will Amazon Web Services invest in Japan?")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    first = docs[0]
    assert set(first.metadata) == {"doc_id", "title", "source", "date", "url", "start", "end", "score"}
    assert first.metadata["doc_id"] == MS_ID and "15 milliards" in first.page_content
    article = next(a for a in qa.load_articles(seeds_index.parent / "seeds")[0] if a.id == MS_ID)
    assert article.text[first.metadata["start"] : first.metadata["end"]] == first.page_content
    assert [d.metadata["score"] for d in docs] == sorted((d.metadata["score"] for d in docs), reverse=True)


def test_the_retriever_runs_inside_an_lcel_chain(retriever: qa.Retriever) -> None:
    prompt = ChatPromptTemplate.from_template("Answer from these passages only.\n{context}\n\nQuestion: {question}")

    def cited(docs: list[Document]) -> str:
        return "\n".join(f"[{n}] {d.metadata['title']} ({d.metadata['doc_id']}, {d.metadata['start']}–{d.metadata['end']}): {d.page_content}" for n, d in enumerate(docs, 1))

    chain = {"context": ArticleRetriever(retriever=retriever, k=2) | RunnableLambda(cited), "question": RunnablePassthrough()} | prompt
    out = chain.batch(["Combien AWS va-t-il investir au Japon ?", "Who is Brad Smith?"])
    first, second = (o.to_messages()[0].content for o in out)
    assert "Question: Combien AWS va-t-il investir au Japon ?" in first and "15 milliards de dollars" in first
    assert "\n[2] " in first and "\n[3] " not in first and f"({MS_ID}, " in first
    assert "Question: Who is Brad Smith?" in second and "Brad Smith" in second.split("Question:")[0]


def test_a_missing_index_is_the_usual_one_line_error(tmp_path: Path, settings: qa.Settings) -> None:
    with pytest.raises(qa.IndexMissingError) as err:
        ArticleRetriever(index_dir=tmp_path / "nowhere", settings=settings)
    assert "\n" not in str(err.value) and "qa index" in str(err.value)
