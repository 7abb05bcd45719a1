"""What is not the story (title line, dateline, byline, read-more and share lines, footers, heading
marks) is recognised at loading and never becomes a passage, whatever format the article came in."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.chunking import chunk_article
from qa.corpus import load_articles, read_article
from tests.conftest import DISTRACTORS, ROOT, SEEDS

NEWS = ROOT / "bench" / "news" / "articles"
# What the news collection's boilerplate lines say (bench/news/): none may be in a passage.
NEVER_IN_A_PASSAGE = ("apparaît en premier sur", "est apparu en premier sur", "first appeared on", "Lire aussi", "Read more",
                      "Partager sur", "Share on", "All rights reserved", "Tous droits réservés", "©", "Agence France-Presse\n")

WEB_PAGE_AS_TEXT = """Toyota va construire une usine de batteries à Miyawaka

Par Marie Dupont, avec AFP

TOKYO, 12 avril 2024 (AFP) — Toyota a annoncé vendredi la construction d'une usine de batteries à Miyawaka, dans le sud du Japon, pour un investissement de 300 milliards de yens.

Partager sur Facebook / X / LinkedIn

L'usine produira des batteries lithium-ion d'une capacité de 9 GWh par an à partir de 2028, a précisé le constructeur.

Lire aussi : Nissan ferme une usine au Royaume-Uni

## Une aide publique

Le ministère de l'Économie (METI) subventionnera le projet à hauteur de 120 milliards de yens.

© 2024 Le Journal Auto. Tous droits réservés.
"""

MARKDOWN = """---
title: Alstom to build 40 hydrogen trains for Nordic Rail
source: Rail Gazette
---

# Alstom to build 40 hydrogen trains for Nordic Rail

By John Smith, Reuters

Nordic Rail has ordered 40 hydrogen trains from Alstom, the operator said on Monday, in a deal worth 1.2 billion euros.

Read more: Siemens wins Danish signalling contract

The trains will enter service in 2027 on lines north of Stockholm.

The post Alstom to build 40 hydrogen trains for Nordic Rail first appeared on Rail Gazette.
"""

NOT_STORY = ["Par Marie Dupont", "TOKYO, 12 avril 2024 (AFP)", "Partager sur", "Lire aussi", "##", "©", "Tous droits", "By John Smith",
             "Read more", "first appeared on", "# Alstom", "title:", "Toyota va construire une usine de batteries à Miyawaka\n"]


STORY = {
    "toyota.txt": ["Toyota a annoncé vendredi", "9 GWh par an", "Une aide publique", "120 milliards de yens"],
    "alstom.md": ["Nordic Rail has ordered 40 hydrogen trains", "north of Stockholm"],
}


@pytest.mark.parametrize(("name", "text"), [("toyota.txt", WEB_PAGE_AS_TEXT), ("alstom.md", MARKDOWN)])
def test_no_passage_holds_what_is_not_the_story(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    article = read_article(path)
    passages = chunk_article(article, 600, 120)
    joined = "\n".join(p.text for p in passages)
    for bad in NOT_STORY:
        assert bad not in joined, bad
    assert all(article.text[p.start : p.end] == p.text for p in passages)
    for words in STORY[name]:
        assert words in joined, words


def test_bylines_give_the_author_and_footers_the_publisher(tmp_path: Path) -> None:
    (tmp_path / "toyota.txt").write_text(WEB_PAGE_AS_TEXT, encoding="utf-8")
    (tmp_path / "alstom.txt").write_text(MARKDOWN.split("---\n", 2)[2], encoding="utf-8")
    articles = {a.id: a for a in load_articles(tmp_path)[0]}
    assert articles["toyota"].author == "Marie Dupont" and articles["toyota"].date == "2024-04-12"
    assert articles["alstom"].author == "John Smith" and articles["alstom"].source == "Rail Gazette"


def test_a_sentence_of_the_story_that_names_someone_is_kept(tmp_path: Path) -> None:
    text = "Un titre d'article assez long\n\nPar ailleurs, le ministre Ken Saito a salué l'accord conclu mardi avec les syndicats du secteur.\n"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    passages = chunk_article(read_article(tmp_path / "a.txt"), 600, 120)
    assert [p.text for p in passages] == ["Par ailleurs, le ministre Ken Saito a salué l'accord conclu mardi avec les syndicats du secteur."]


def test_no_passage_of_the_seeds_distractors_and_news_is_a_title_dateline_byline_or_footer() -> None:
    checked = 0
    for folder in (SEEDS, DISTRACTORS, NEWS):
        for article in load_articles(folder)[0]:
            for p in chunk_article(article, 600, 120):
                checked += 1
                assert p.text.strip() != article.title.strip()
                assert not any(s < p.end and p.start < e for s, e in article.boilerplate), (article.id, p.text[:60])
                assert not any(bad in p.text for bad in NEVER_IN_A_PASSAGE), (article.id, p.text[:80])
                assert not (article.dateline and p.text.startswith(article.dateline)), (article.id, p.text[:60])
                if article.author:
                    assert not any(p.text.startswith(f"{w} {article.author}") for w in ("Par", "By")), (article.id, p.text[:60])
    assert checked > 200
