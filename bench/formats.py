"""What bringing real news formats in costs: `qa add` of 50 saved web pages, then `qa index`,
against `qa index` of the same 50 articles as plain text files. Both run as the command does, in
fresh processes, from an empty index; medians of alternating rounds.

The pages are PIAF's dev and train articles (French Wikipedia text) wrapped in the furniture of a
news site: a menu, a cookie banner, ads, related links, comments and a footer. The figure checks
what the README promises: adding pages costs at most 20% more than indexing their text alone.
It also counts how many of the stored articles came out clean (no furniture text, the title,
site and date right).
"""

from __future__ import annotations

import html
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, env_without_settings, median

PIAF_CORPUS = ROOT.parent / "shared" / "eval" / "piaf" / "corpus"
FURNITURE = {
    "menu": "Accueil Politique Économie Monde Sport Culture Abonnez-vous",
    "cookies": "Ce site utilise des cookies pour mesurer son audience",
    "ad": "PUBLICITÉ Profitez de notre offre spéciale à 1 euro le premier mois",
    "related": "À lire aussi : les dix destinations à ne pas manquer cet été",
    "comment": "Pseudonyme77 a écrit : article très intéressant, merci à la rédaction",
    "footer": "Mentions légales Politique de confidentialité Nous contacter",
}


def page(title: str, body: str, n: int) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n") if p.strip())
    date = f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}"
    f = {k: html.escape(v) for k, v in FURNITURE.items()}
    return f"""<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)} | Le Quotidien</title>
<meta property="og:site_name" content="Le Quotidien"><meta property="og:title" content="{html.escape(title)}">
<meta property="article:published_time" content="{date}T07:00:00+01:00"></head><body>
<header><nav><ul><li><a href="/">{f['menu']}</a></li></ul></nav></header><div id="cookie-banner">{f['cookies']}</div>
<aside class="ad">{f['ad']}</aside><main><article><h1>{html.escape(title)}</h1>{paragraphs}</article>
<aside class="related"><h2>À lire aussi</h2><ul><li><a href="/x">{f['related']}</a></li></ul></aside></main>
<section id="comments"><h2>Commentaires</h2><div class="comment"><p>{f['comment']}</p></div></section>
<footer>{f['footer']}</footer></body></html>"""


def articles(n: int) -> list[tuple[str, str, str]]:
    files = sorted(PIAF_CORPUS.glob("*.txt"))[:n]
    out = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        title, _, body = text.partition("\n")
        out.append((f.stem, title.strip(), body.strip()))
    return out


def qa_cmd(*args: str, cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, env=env_without_settings(), check=True, capture_output=True)
    return time.perf_counter() - t0


def run(n: int = 50, rounds: int = 3, log=print) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    if not PIAF_CORPUS.is_dir():
        log(f"formats: no PIAF corpus at {PIAF_CORPUS}; skipped")
        return None
    docs = articles(n)
    text_s, pages_s, clean, stored = [], [], 0, 0
    with tempfile.TemporaryDirectory(prefix="qa-formats-") as d:
        root = Path(d)
        (root / "pages").mkdir()
        (root / "texts").mkdir()
        for i, (stem, title, body) in enumerate(docs):
            (root / "pages" / f"{stem}.html").write_text(page(title, body, i), encoding="utf-8")
            (root / "texts" / f"{stem}.txt").write_text(f"{title}\n\n{body}\n", encoding="utf-8")
        pages = sorted(str(p) for p in (root / "pages").iterdir())
        for r in range(rounds):
            for which in ("text", "pages") if r % 2 == 0 else ("pages", "text"):
                work = root / f"{which}-{r}"
                if which == "text":
                    shutil.copytree(root / "texts", work / "seeds")
                    text_s.append(qa_cmd("index", cwd=work))
                else:
                    (work / "seeds").mkdir(parents=True)
                    pages_s.append(qa_cmd("add", *pages, cwd=work))
            log(f"formats: round {r + 1}: text alone {text_s[-1]:.1f} s, pages {pages_s[-1]:.1f} s")
        from qa.corpus import load_articles

        added, _ = load_articles(root / "pages-0" / "seeds")
        for a in added:
            stored += 1
            furniture_free = not any(v in a.text for v in FURNITURE.values())
            right = a.source == "Le Quotidien" and a.date.startswith("2024-") and any(a.title == t for _, t, _ in docs)
            clean += furniture_free and right
    ratio = median(pages_s) / median(text_s)
    log(f"formats: {n} pages added and indexed in {median(pages_s):.1f} s, their text alone {median(text_s):.1f} s: {ratio:.2f}x; clean {clean}/{stored}")
    return {"pages": n, "rounds": rounds, "pages_s": pages_s, "text_s": text_s, "ratio": ratio, "clean": clean, "stored": stored}
