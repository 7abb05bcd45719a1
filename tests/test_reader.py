"""The reader, the short answer, calibrated abstention and answers about the article itself,
on the real models, the real seeds and the real PIAF articles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import qa
from qa.reader import READER_FILE, SPAN_READER_FILE, best_span, load_reader
from qa.sentences import sentence_spans
from tests.conftest import AFP_ID, DISTRACTORS, MS_ID, ROOT, SEEDS, copy_corpus

PIAF = ROOT.parent / "shared" / "eval" / "piaf"


@pytest.fixture(scope="module")
def reader(retriever: qa.Retriever):  # type: ignore[no-untyped-def]
    return retriever.reader


@pytest.mark.parametrize("damage", ["truncated", "not_a_zip", "empty"])
def test_damaged_reader_weights_are_a_model_error(tmp_path: Path, reader, damage: str) -> None:  # type: ignore[no-untyped-def]
    from qa.reader import Reader

    raw = READER_FILE.read_bytes()
    bad = tmp_path / "reader.npz"
    bad.write_bytes({"truncated": raw[: len(raw) // 2], "not_a_zip": b"not a reader" * 100, "empty": b""}[damage])
    with pytest.raises(qa.ModelError, match="cannot be read"):
        Reader(reader.engine, bad)


def test_the_onnx_reader_gives_the_logits_it_was_trained_to_give(reader) -> None:  # type: ignore[no-untyped-def]
    """The shipped file carries a few training-time inputs and the torch model's outputs for them:
    the 8-bit ONNX reader must find the same best span and no-answer score."""
    with np.load(READER_FILE) as data:
        ids, mask, expected = data["probe.ids"], data["probe.mask"], data["probe.logits"]
    got = reader._session.run(None, {"embeddings": reader.engine._embeddings(ids), "mask": mask})[0]
    for row in range(len(ids)):
        n = int(mask[row].sum())
        g, e = got[row, :n], expected[row, :n]
        assert np.corrcoef(g.ravel(), e.ravel())[0, 1] > 0.995
        assert np.abs(g - e).max() < 0.6
        eos = [i for i in range(1, n) if ids[row, i] == ids[row, i - 1] == reader.tokens.eos]
        first = eos[0] + 1
        assert best_span(g[:, 0], g[:, 1], first, n - 1)[:2] == best_span(e[:, 0], e[:, 1], first, n - 1)[:2]
        assert abs((g[0, 0] + g[0, 1]) - (e[0, 0] + e[0, 1])) < 0.6


def test_passages_read_together_get_the_logits_each_gets_read_alone(reader) -> None:  # type: ignore[no-untyped-def]
    """The passages of one question are read at the same time (qa/reader.py, reading_threads): each
    passage's logits and states must be its own, whatever the order in which the readings end."""
    question = "Combien AWS va-t-il investir au Japon ?"
    passages = [
        "Amazon Web Services (AWS) investira séparément 15 milliards de dollars au Japon d’ici 2027.",
        "Microsoft a annoncé mardi qu’il allait investir 2,9 milliards de dollars au Japon au cours des deux prochaines années, "
        "pour renforcer ses infrastructures d’IA et de cloud computing dans le pays et former trois millions de personnes.",
        "Le Premier ministre japonais Fumio Kishida est en visite d’État à Washington.",
        "L’investissement servira également à créer un laboratoire de recherche Microsoft au Japon.",
        "Brad Smith, président de Microsoft, a déclaré que c’était le plus gros investissement de l’entreprise au Japon.",
    ]
    states: list[np.ndarray] = []
    together, mask, _, _ = reader.logits(question, passages, states)
    for i, passage in enumerate(passages):
        alone_states: list[np.ndarray] = []
        alone, alone_mask, _, _ = reader.logits(question, [passage], alone_states)
        n = int(alone_mask[0].sum())
        assert int(mask[i].sum()) == n
        assert np.array_equal(together[i, :n], alone[0, :n])
        if states:
            assert np.array_equal(states[i][:n], alone_states[0][:n])


def test_the_readers_weights_dequantised_in_the_layout_onnx_runs_are_the_shipped_numbers() -> None:
    from qa.e5_onnx import dequantised8
    from qa.reader import reader_file

    tuned, _ = reader_file(READER_FILE)
    transposed = dequantised8(tuned)
    matrices = [k[:-3] for k in tuned if k.endswith(".q8")]
    for name in matrices:
        codes, scales = tuned[name + ".q8"].astype(np.float32), tuned[name + ".s8"].astype(np.float32)
        plain = ((codes.reshape(codes.shape[0], -1, 32) - 128) * scales[..., None]).reshape(codes.shape)  # (out, in)
        assert np.array_equal(transposed[name + ".wT"], plain.T)
    assert matrices and transposed[matrices[0] + ".wT"].flags.c_contiguous


@pytest.mark.parametrize(
    ("question", "passage", "span"),
    [
        (
            "Combien AWS va-t-il investir au Japon ?",
            "Amazon Web Services (AWS) investira séparément 15 milliards de dollars au Japon d’ici 2027 pour soutenir "
            "l’infrastructure cloud pour l’IA et d’autres services numériques.",
            "15 milliards de dollars",
        ),
        (
            "Quel premier ministre japonais était en visite à Washington ?",
            "Cette annonce coïncide avec la visite du premier ministre japonais Fumio Kishida à Washington, qui a insisté "
            "sur la détermination de son pays à devenir une puissance majeure dans ce domaine.",
            "Fumio Kishida",
        ),
        (
            "When did the United States and Japan announce the agreement?",
            "Les États-Unis et le Japon ont annoncé le 10 avril un accord politique prévoyant un partenariat avec Microsoft "
            "partiellement axé sur l’IA.",
            "10 avril",
        ),
    ],
)
def test_the_short_answer_is_the_exact_span(reader, question: str, passage: str, span: str) -> None:  # type: ignore[no-untyped-def]
    found = reader.read(question, [passage])[0]
    assert passage[found.start : found.end].strip(" .,") in (span, f"le {span}")


def test_the_span_reader_gives_the_logits_it_was_trained_to_give(reader) -> None:  # type: ignore[no-untyped-def]
    """The span reader reads on from the states the reader's pass leaves after the shared layers:
    that path, on ONNX Runtime, must give the torch soup's outputs for its probes."""
    with np.load(SPAN_READER_FILE) as data:
        ids, mask, expected = data["probe.ids"], data["probe.mask"], data["probe.logits"]
    assert reader.span_version is not None
    for row in range(len(ids)):
        n = int(mask[row].sum())
        feeds = {"embeddings": reader.engine._embeddings(ids[row : row + 1, :n]), "mask": mask[row : row + 1, :n]}
        states = reader._session.run(None, feeds)[1]
        g = reader._span_session.run(None, {"embeddings": states, "mask": mask[row : row + 1, :n]})[0][0]
        e = expected[row, :n]
        assert np.corrcoef(g.ravel(), e.ravel())[0, 1] > 0.995
        eos = [i for i in range(1, n) if ids[row, i] == ids[row, i - 1] == reader.tokens.eos]
        assert best_span(g[:, 0], g[:, 1], eos[0] + 1, n - 1)[:2] == best_span(e[:, 0], e[:, 1], eos[0] + 1, n - 1)[:2]


@pytest.mark.parametrize(
    ("question", "passage", "sentence", "span"),
    [
        (
            "Combien AWS va-t-il investir au Japon ?",
            "L’investissement servira également à former 3 millions de personnes. Amazon Web Services (AWS) investira "
            "séparément 15 milliards de dollars au Japon d’ici 2027.",
            "Amazon Web Services",
            "15 milliards de dollars",
        ),
        (
            "Who is the president of Microsoft?",
            "Microsoft s’est imposé comme un acteur de l’IA. « Il s’agit de l’investissement le plus important de Microsoft "
            "au Japon », a déclaré Brad Smith, président de Microsoft, dans un communiqué.",
            "« Il s’agit",
            "Brad Smith",
        ),
    ],
)
def test_the_span_reader_finds_the_exact_span_inside_the_quoted_sentence(  # type: ignore[no-untyped-def]
    reader, question: str, passage: str, sentence: str, span: str
) -> None:
    lo = passage.index(sentence)
    first = reader.read_parts(question, [passage])[0][0]
    found = reader.span_in(first, (lo, len(passage)))
    assert found is not None and passage[found.start : found.end] == span
    assert found.start >= lo


def test_a_span_reader_that_is_the_reader_itself_reads_the_readers_own_spans(tmp_path: Path, reader) -> None:  # type: ignore[no-untyped-def]
    """Reading on from the shared layers' states is the rest of one reading, not an approximation of it."""
    from qa.reader import Reader

    (tmp_path / "span_reader.npz").write_bytes(READER_FILE.read_bytes())
    twice = Reader(reader.engine, READER_FILE, tmp_path / "span_reader.npz")
    passage = "Amazon Web Services (AWS) investira séparément 15 milliards de dollars au Japon d’ici 2027."
    for question in ("Combien AWS va-t-il investir au Japon ?", "By when will AWS invest in Japan?"):
        first = twice.read_parts(question, [passage])[0][0]
        again = twice.span_in(first, (0, len(passage)))
        assert again is not None
        assert (again.start, again.end) == (first.start, first.end)
        assert abs(again.score - first.score) < 1e-3 and abs(again.null_score - first.null_score) < 1e-3


def test_a_span_reader_tuned_below_the_shared_layers_is_a_model_error(tmp_path: Path, reader) -> None:  # type: ignore[no-untyped-def]
    from qa.reader import Reader

    with np.load(SPAN_READER_FILE) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("meta")))
    np.savez(tmp_path / "span_reader.npz", meta=np.array(json.dumps({**meta, "tuned_layers": 12})), **arrays)
    with pytest.raises(qa.ModelError, match="not tuned above"):
        Reader(reader.engine, READER_FILE, tmp_path / "span_reader.npz")


def test_without_a_span_reader_the_short_answer_is_the_readers(tmp_path: Path, reader) -> None:  # type: ignore[no-untyped-def]
    from qa.reader import Reader

    alone = Reader(reader.engine, READER_FILE, tmp_path / "absent.npz")
    first = alone.read_parts("Combien AWS va-t-il investir au Japon ?", ["AWS investira 15 milliards de dollars au Japon."])[0][0]
    assert alone.span_version is None and alone.span_in(first, (0, 10)) is None


def test_a_title_heads_a_passage_unless_the_passage_opens_with_it() -> None:
    from qa.chunking import under_title

    assert under_title("Microsoft  au Japon", "Microsoft investira.") == ("Microsoft au Japon\n\nMicrosoft investira.", 20)
    assert under_title("Microsoft au Japon", "Microsoft au Japon\n\nMicrosoft investira.") == ("Microsoft au Japon\n\nMicrosoft investira.", 0)
    assert under_title("", "Microsoft investira.") == ("Microsoft investira.", 0)


def test_a_reader_trained_without_titles_reads_the_same_with_them(reader) -> None:  # type: ignore[no-untyped-def]
    passage = "Amazon Web Services (AWS) investira séparément 15 milliards de dollars au Japon d’ici 2027."
    question = "Combien AWS va-t-il investir au Japon ?"
    assert not reader.reads_titles
    assert reader.read_parts(question, [passage], titles=["AWS au Japon"]) == reader.read_parts(question, [passage])


def test_a_reader_trained_with_titles_finds_its_span_in_the_passage_not_the_title(tmp_path: Path, reader) -> None:  # type: ignore[no-untyped-def]
    from qa.reader import Reader

    with np.load(READER_FILE) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("meta")))
    np.savez(tmp_path / "reader.npz", meta=np.array(json.dumps({**meta, "titled": True})), **arrays)
    titled_reader = Reader(reader.engine, tmp_path / "reader.npz")
    passage = "Amazon Web Services (AWS) investira séparément 15 milliards de dollars au Japon d’ici 2027."
    span = titled_reader.read_parts("Combien AWS va-t-il investir au Japon ?", [passage], titles=["AWS au Japon"])[0][0]
    assert titled_reader.reads_titles
    assert passage[span.start : span.end] == "15 milliards de dollars"
    # Where only the title answers, the span is still a piece of the passage.
    vague = "Amazon Web Services (AWS) a annoncé un investissement au Japon."
    span = titled_reader.read_parts("Combien AWS va-t-il investir au Japon ?", [vague], titles=["AWS investira 15 milliards de dollars"])[0][0]
    assert 0 <= span.start < span.end <= len(vague)


def test_the_reader_prefers_the_passage_that_answers(reader) -> None:  # type: ignore[no-untyped-def]
    passages = [
        "Microsoft s’est imposé l’année dernière comme un acteur essentiel de l’IA grâce à son partenariat avec OpenAI.",
        "« Il s’agit de l’investissement le plus important de Microsoft au cours de ses 46 ans d’histoire au Japon », "
        "a déclaré Brad Smith, président de Microsoft, dans un communiqué.",
    ]
    spans = reader.read("Qui est le président de Microsoft ?", passages)
    assert spans[1].margin > spans[0].margin
    assert passages[1][spans[1].start : spans[1].end] == "Brad Smith"


def test_an_answer_shows_its_short_answer_with_offsets_into_the_article(retriever: qa.Retriever) -> None:
    a = qa.answer("How much will Amazon Web Services invest in Japan?", retriever)
    assert not a.abstained and a.short_answer is not None
    assert "15 milliards" in a.short_answer.text
    text = (SEEDS / f"{a.citations[0].doc_id}.txt").read_text(encoding="utf-8")
    assert text[a.short_answer.start : a.short_answer.end] == a.short_answer.text
    q = a.quotes[0]
    assert q.start <= a.short_answer.start < a.short_answer.end <= q.end
    assert 0.0 <= a.confidence <= 1.0


@pytest.mark.parametrize(
    ("text", "piece", "whole"),
    [
        ("Companies including Daikin use it.", "s", "Companies"),  # its first "s" is the last letter of "Companies"
        ("Companies including Daikin use it.", "including Dai", "including Daikin"),
        ("plusieurs universités, dont l’Université Keio", "Université Keio", "Université Keio"),
        ("le pilote Jean-Pierre Jabouille", "Pierre Jabouille", "Pierre Jabouille"),
        ("about 17,500 jobs", "17,500", "17,500"),
    ],
)
def test_a_short_answer_is_made_of_whole_words(text: str, piece: str, whole: str) -> None:
    from qa.answer import whole_words

    start = text.index(piece)
    a, z = whole_words(text, start, start + len(piece))
    assert text[a:z] == whole


@pytest.fixture(scope="module")
def sums_only(tmp_path_factory: pytest.TempPathFactory) -> qa.Retriever:
    """One article that gives a sum invested and no head count, read with no abstention at all."""
    root = tmp_path_factory.mktemp("sums_only")
    (root / "seeds").mkdir()
    (root / "seeds" / "aws.txt").write_text(
        "AWS au Japon\n\nAmazon Web Services (AWS) investira 15 milliards de dollars au Japon d’ici 2027. "
        "L’entreprise y exploite déjà deux régions cloud, à Tokyo et à Osaka.\n",
        encoding="utf-8",
    )
    settings = qa.Settings.from_env(env={}, min_confidence=0.0)
    qa.build_index(root / "seeds", root / "index", settings)
    return qa.Retriever.load(root / "index", settings)


def test_a_question_asking_for_a_figure_gets_no_short_answer_without_one(sums_only: qa.Retriever) -> None:
    told = qa.answer("Combien AWS va-t-il investir au Japon ?", sums_only)
    assert told.short_answer is not None and told.short_answer.text == "15 milliards de dollars"
    # A head count the article does not give: the sentence may be quoted, its sum is not the answer.
    for question in ("Combien d'employés AWS compte-t-il au Japon ?", "How many people does AWS employ in Japan?"):
        a = qa.answer(question, sums_only)
        assert not a.abstained and a.quotes, question
        assert a.short_answer is None, (question, a.short_answer)


def test_the_json_answer_carries_the_short_answer_and_the_confidence(retriever: qa.Retriever) -> None:
    d = qa.answer("Quelles entreprises japonaises recevront des GPU de NVIDIA ?", retriever).to_dict()
    assert json.loads(json.dumps(d))["short_answer"]["text"]
    assert 0 <= d["confidence"] <= 1


NEAR_MISSES = [
    "How many data centres will Microsoft open in Osaka?",
    "Quel est le salaire de Fumio Kishida ?",
    "Combien de GPU NVIDIA livrera-t-il à Softbank ?",
    "What did the US Department of Energy pay for the Argonne partnership?",
    "Quand Microsoft Research Asia ouvrira-t-il son laboratoire de Tokyo ?",
    "Who will lead the Japanese AI Safety Institute?",
]


def test_near_miss_questions_are_declined_at_the_measured_rate(retriever: qa.Retriever) -> None:
    """Questions on things the articles name, asking what they don't say (written for this test).
    This holds the measured rate, 4 of 6: who will lead the institute is declined since no sentence
    found writes a role (qa/slots.py); the data centres in Osaka and the laboratory's opening are
    still answered (docs/limits.md)."""
    declined = [q for q in NEAR_MISSES if qa.answer(q, retriever).abstained]
    print(f"near misses declined: {len(declined)}/{len(NEAR_MISSES)}: {declined}")
    assert len(declined) >= 4


@pytest.mark.parametrize(
    "question",
    ["What will be the power of Microsoft's data centres in Japan?", "Quel ministre a signé l'accord sur la sécurité de l'IA ?"],
)
def test_a_sentence_without_the_measure_or_role_asked_does_not_answer(retriever: qa.Retriever, question: str) -> None:
    """The seeds give no power in megawatts and name no minister who signed: the sentences found write
    neither, whatever the models make of them, so the articles don't say (confidence 0)."""
    a = qa.answer(question, retriever)
    assert a.abstained and a.citations == [] and a.confidence == 0.0, (question, a.text, a.confidence)


def test_a_role_written_in_the_sentence_is_answered(retriever: qa.Retriever) -> None:
    a = qa.answer("Qui dirige Microsoft ?", retriever)
    assert not a.abstained and "Brad Smith" in a.text and "président" in a.quotes[0].text


@pytest.mark.parametrize(
    "question", ["Combien d'emplois l'usine d'Aoba à Mulhouse créera-t-elle ?", "How many jobs will the Toyota plant in Dunkirk create?"]
)
def test_a_passage_that_names_nothing_asked_about_does_not_answer(retriever: qa.Retriever, question: str) -> None:
    """The seeds give jobs and figures, for other companies and places: a passage naming none of
    what the question asks about (Aoba, Mulhouse; Toyota, Dunkirk) is not quoted as its answer."""
    a = qa.answer(question, retriever)
    assert a.abstained and a.citations == [], (question, a.text, a.confidence)


@pytest.mark.parametrize(
    "question",
    ["What is the capital of Australia?", "Quelle est la recette de la ratatouille ?", "Who won the 1998 football World Cup?", "Quel temps fera-t-il demain à Lyon ?"],
)
def test_off_topic_questions_are_declined_in_both_languages(retriever: qa.Retriever, question: str) -> None:
    a = qa.answer(question, retriever)
    assert a.abstained and a.citations == [] and 0 <= a.confidence < 0.5, (question, a.text, a.confidence)


@pytest.mark.parametrize(
    ("question", "wants"),
    [
        ("Combien d'enfants Pierre-Jakez Hélias a-t-il eus ?", True),
        ("How many cars did UAZ build in 2015?", True),
        ("En quelle année AWS investira-t-il ?", True),
        ("Quelle est la hauteur maximale de la chélidoine ?", True),
        ("Qui est la mère de Duryodhana ?", False),
        ("Quand Kishida est-il allé à Washington ?", False),
    ],
)
def test_questions_that_ask_for_a_number_are_told_apart(question: str, wants: bool) -> None:
    from qa.question_kind import asks_for_number

    assert asks_for_number(question) is wants


def test_a_span_holds_a_number_in_digits_or_in_words_but_not_an_article() -> None:
    from qa.question_kind import holds_number

    assert holds_number("15 milliards de dollars") and holds_number("deux équipes") and holds_number("a dozen")
    assert holds_number("aucune") and holds_number("none")
    assert not holds_number("une famille de paysans pauvres") and not holds_number("Kamui Kobayashi")


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much will AWS invest in Spain?", "money"),
        ("Combien Microsoft va-t-il investir au Japon ?", "money"),
        ("Combien coûte la version japonaise de GPT-4 ?", "money"),
        ("Quel est le montant de la subvention du METI à SoftBank ?", "money"),
        ("How many jobs will Oracle's investment in Japan create?", "count"),
        ("Combien d'emplois l'investissement va-t-il créer ?", "count"),
        ("Combien de livres a-t-il écrits ?", "count"),
        ("Combien de temps dure la rencontre ?", "time"),
        ("By how much has Nvidia's share price risen since January?", "number"),
        ("What is Nvidia's share price today?", "price"),
        ("Quel est le cours de l'action Nvidia aujourd'hui ?", "price"),
        ("What's the current stock price of Sony?", "price"),
        ("Quel est le cours actuel de l'action Sony ?", "price"),
        ("Quelle est la valeur boursière de SoftBank ?", "money"),
        ("Quel est le cours du Rhône ?", ""),
        ("En quelle année est-il né ?", "number"),
        ("Quand Microsoft Research Asia ouvrira-t-il son laboratoire de Tokyo ?", "time"),
        ("When did Yoweri Museveni get married?", "time"),
        ("Quelle est la valeur de pi ?", ""),
        ("Qui est la mère de Duryodhana ?", ""),
    ],
)
def test_questions_are_told_apart_by_the_kind_of_answer_they_ask_for(question: str, kind: str) -> None:
    from qa.question_kind import wanted_answer

    assert wanted_answer(question) == kind


@pytest.mark.parametrize(
    ("text", "span", "money"),
    [
        ("Oracle will invest $8 billion in Japan", "8 billion", True),
        ("Microsoft va investir 2,9 milliards de dollars au Japon", "2,9 milliards", True),
        ("un coût de 7 millions de livres sterling", "7 millions", True),
        ("SoftBank investira ¥150 milliards", "150 milliards", True),
        ("about 17,500 jobs a year in local businesses", "17,500", False),
        ("il a écrit 200 livres en français", "200 livres", False),
        ("Nvidia's share price rose 170 % this year", "170 %", False),
    ],
)
def test_an_amount_of_money_is_read_from_the_currency_in_or_around_the_span(text: str, span: str, money: bool) -> None:
    from qa.question_kind import money_at

    start = text.index(span)
    assert money_at(text, start, start + len(span)) is money


def test_a_span_that_is_not_the_kind_of_answer_asked_for_is_a_mismatch() -> None:
    from qa.question_kind import type_mismatch

    text = "AWS expects the $15.7 billion investment to support about 17,500 jobs a year."
    jobs, money = (text.index("17,500"), text.index("17,500") + 6), (text.index("15.7"), text.index("15.7") + 12)
    assert type_mismatch("money", text, *jobs) and not type_mismatch("money", text, *money)
    assert type_mismatch("count", text, *money) and not type_mismatch("count", text, *jobs)
    assert type_mismatch("number", text, text.index("AWS"), text.index("AWS") + 3)
    assert not type_mismatch("", text, text.index("AWS"), text.index("AWS") + 3)


@pytest.mark.parametrize(
    ("text", "span", "mismatch"),
    [
        ("Nvidia's shares closed at $950.02 on Friday.", "$950.02", False),
        ("L'action SoftBank a clôturé à 8 500 yens.", "8 500", False),
        ("a $110 million research collaboration", "$110 million", True),
        ("SoftBank investira 150 milliards de yens", "150", True),
        ("Microsoft va investir 2,9 milliards de dollars", "2,9 milliards", True),
        ("about 17,500 jobs a year", "17,500", True),
    ],
)
def test_a_share_price_is_the_price_of_one_share_not_a_sum_in_millions(text: str, span: str, mismatch: bool) -> None:
    from qa.question_kind import type_mismatch

    start = text.index(span)
    assert type_mismatch("price", text, start, start + len(span)) is mismatch


@pytest.mark.parametrize(
    ("span", "mismatch"),
    [
        ("Tokyo", True),
        ("Nelson Mandela", True),
        ("le mari de sa sœur", True),
        ("le 10 avril", False),
        ("au XIXe siècle", False),
        ("après sa mort", False),
        ("trois étés", False),
    ],
)
def test_a_time_is_a_date_a_year_a_season_or_a_moment_relative_to_an_event(span: str, mismatch: bool) -> None:
    from qa.question_kind import type_mismatch

    assert type_mismatch("time", span, 0, len(span)) is mismatch


@pytest.fixture(scope="module")
def business_news(tmp_path_factory: pytest.TempPathFactory, settings: qa.Settings) -> qa.Retriever:
    """The seeds with two near-topic articles that write sums invested and no head count."""
    root = tmp_path_factory.mktemp("business_news")
    seeds = copy_corpus(root / "seeds", ("d01_oracle_japan.txt", "d08_softbank_nvidia.txt"))
    qa.build_index(seeds, root / "index", settings)
    return qa.Retriever.load(root / "index", settings)


@pytest.mark.parametrize("question", ["How many employees does Softbank have?", "Combien d'employés Oracle compte-t-il au Japon ?"])
def test_a_head_count_the_articles_do_not_give_is_not_answered_with_a_sum_of_money(business_news: qa.Retriever, question: str) -> None:
    a = qa.answer(question, business_news)
    assert a.abstained, (question, a.text, a.confidence)


@pytest.mark.parametrize(
    "question", ["What is Nvidia's share price today?", "Quel est le cours de l'action SoftBank ?", "What was Oracle's closing price yesterday?"]
)
def test_a_share_price_the_articles_do_not_give_is_not_answered_with_a_sum_invested(business_news: qa.Retriever, question: str) -> None:
    a = qa.answer(question, business_news)
    assert a.abstained, (question, a.text, a.confidence)


def test_the_decision_counts_a_span_without_the_number_asked_for_against_answering() -> None:
    """The decision weighs a span of the wrong kind against answering. (The confidence shown is fitted
    on what the slot rules leave, where a sentence without the kind asked is already declined, so its
    weight for the span's kind is free to be near zero.)"""
    from qa.calibration import FEATURES, load_calibration

    c = load_calibration()
    assert c.answers_weights[FEATURES.index("type_mismatch")] < 0


def test_the_decision_and_the_confidence_shown_are_two_models_over_the_same_inputs() -> None:
    """Whether the articles answer decides; the chance that the answer is right is what is shown.
    A passage whose article names nothing asked about gets neither."""
    from qa.calibration import FEATURES, load_calibration

    c = load_calibration()
    assert len(c.answers_weights) == len(c.weights) == len(FEATURES) and c.answers_weights != c.weights
    f = dict.fromkeys(FEATURES, 0.0)
    assert c.answers(f) != c.probability(f)
    assert c.decline_unnamed and c.answers({**f, "article_names_missing": 1.0}) == c.probability({**f, "article_names_missing": 1.0}) == 0.0


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("Combien Microsoft va-t-il investir au Japon ?", "2,9 milliards"),
        ("How many people will Microsoft train in digital skills in Japan?", "millions"),
        ("Quel montant pour la collaboration de recherche universitaire ?", "110 millions"),
        ("Which Japanese universities take part in the research?", "Tsukuba"),
    ],
)
def test_answerable_questions_are_not_declined_in_either_language(retriever: qa.Retriever, question: str, key: str) -> None:
    a = qa.answer(question, retriever)
    assert not a.abstained and key in a.text, (question, a.text, a.confidence)


@pytest.mark.parametrize(
    ("question", "doc", "value"),
    [
        ("Quel site a publié l'article sur les 17,9 milliards de dollars de Microsoft et AWS ?", MS_ID, "CryptoSlate"),
        ("Which news agency wrote the story about Microsoft investing 2.9 billion in Japan?", AFP_ID, "Agence France-Presse"),
    ],
)
def test_questions_about_the_article_are_answered_from_its_metadata(
    retriever: qa.Retriever, question: str, doc: str, value: str
) -> None:
    a = qa.answer(question, retriever)
    assert not a.abstained and value in a.text and "[1]" in a.text
    assert a.citations[0].doc_id == doc and value in a.citations[0].text
    assert a.short_answer is not None and a.short_answer.text == value
    text = (SEEDS / f"{doc}.txt").read_text(encoding="utf-8")
    assert text[a.short_answer.start : a.short_answer.end] == value


def test_a_dateline_is_never_part_of_a_sentence() -> None:
    text = (SEEDS / f"{AFP_ID}.txt").read_text(encoding="utf-8")
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences[0].startswith("Microsoft a annoncé mardi")
    assert not any("date 2024" in s or s == "Agence France-Presse" for s in sentences)


def test_a_news_dateline_opens_no_sentence() -> None:
    text = (DISTRACTORS / "d08_softbank_nvidia.txt").read_text(encoding="utf-8")
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences[1].startswith("SoftBank Corp., la branche télécoms du groupe japonais SoftBank, a annoncé")
    assert not any("Tokyo, avril" in s for s in sentences)


def test_a_company_abbreviation_does_not_end_a_sentence() -> None:
    text = "Toyota Motor Corp. a annoncé un rachat. The U.S. and Japan agreed. M. Dupont est venu."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Toyota Motor Corp. a annoncé un rachat.",
        "The U.S. and Japan agreed.",
        "M. Dupont est venu.",
    ]


def test_an_era_date_does_not_end_a_sentence() -> None:
    text = "Utique est fondée en 1100 av. J.-C. Carthage suit vers 814 av. J.-C., puis Rome. Auguste meurt en 14 apr. J.-C. à Nola."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Utique est fondée en 1100 av. J.-C.",
        "Carthage suit vers 814 av. J.-C., puis Rome.",
        "Auguste meurt en 14 apr. J.-C. à Nola.",
    ]


@pytest.mark.parametrize(
    ("question", "value", "short"),
    [
        ("Where was the article about Nvidia overtaking Microsoft written?", "New York", "New York"),
        ("When was the article about Nvidia becoming the world's most valuable company published?", "2024-06", "juin 2024"),
        ("D'où a été écrit l'article sur l'investissement de Microsoft en Malaisie ?", "Kuala Lumpur", "Kuala Lumpur"),
    ],
)
def test_the_place_and_date_of_an_article_come_from_its_dateline(retriever: qa.Retriever, question: str, value: str, short: str) -> None:
    a = qa.answer(question, retriever)
    assert not a.abstained and value in a.text, a.text
    assert a.short_answer is not None and a.short_answer.text == short
    doc = a.citations[0].doc_id
    text = (DISTRACTORS / f"{doc}.txt").read_text(encoding="utf-8")
    assert text[a.short_answer.start : a.short_answer.end] == short


def test_no_quote_holds_a_news_dateline(retriever: qa.Retriever) -> None:
    a = qa.answer("Quelle capitalisation boursière Nvidia a-t-il atteinte ?", retriever)
    assert not a.abstained and "3 300 milliards" in a.text
    assert all("juin 2024" not in q.text for q in a.quotes)


def test_no_quote_holds_a_dateline(retriever: qa.Retriever) -> None:
    for question in ("Combien Microsoft va-t-il investir au Japon ?", "When did Microsoft announce its investment?"):
        a = qa.answer(question, retriever)
        assert all("date 2024" not in q.text for q in a.quotes)


@pytest.mark.skipif(not (PIAF / "questions.jsonl").exists(), reason="no PIAF data beside the project")
def test_a_piaf_question_gets_its_gold_span(tmp_path: Path) -> None:
    """A dev article of PIAF, indexed alone: the reader finds the crowd's answer."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    name = "piaf_dev_008_nba-gatorade-league.txt"
    (seeds / name).write_bytes((PIAF / "corpus" / name).read_bytes())
    settings = qa.Settings.from_env(env={})
    qa.build_index(seeds, tmp_path / "index", settings)
    r = qa.Retriever.load(tmp_path / "index", settings)
    a = qa.answer("Qui est le président de la G League?", r)
    assert not a.abstained and a.short_answer is not None and a.short_answer.text == "Shareef Abdur-Rahim"


def test_one_reader_is_loaded_per_process(retriever: qa.Retriever) -> None:
    assert load_reader(retriever.embedder.onnx_engine) is retriever.reader  # type: ignore[attr-defined]


def test_the_question_terms_ignore_question_words_and_match_inflections() -> None:
    from qa.answer import question_terms, term_overlap

    terms = question_terms("Combien AWS va-t-il investir au Japon ?")
    assert terms == {"aws", "inves", "japon"}
    assert term_overlap(terms, "Amazon Web Services (AWS) investira séparément 15 milliards de dollars au Japon") == 1.0
    assert term_overlap(terms, "Microsoft investira 2,9 milliards de dollars au Japon") == pytest.approx(2 / 3)
    assert term_overlap(question_terms("Comment ?"), "anything") == 0.0


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("Combien AWS va-t-il investir au Japon ?", "15 milliards"),
        ("Combien Microsoft va-t-il investir au Japon ?", "2,9 milliards"),
    ],
)
def test_the_sentence_that_names_what_is_asked_about_is_quoted(retriever: qa.Retriever, question: str, key: str) -> None:
    """Both investments are in neighbouring passages; the reader alone took Microsoft's for AWS's."""
    a = qa.answer(question, retriever)
    assert not a.abstained and key in a.quotes[0].text and key in a.short_answer.text


def test_the_same_answer_in_two_articles_is_told_by_its_words() -> None:
    from qa.answer import same_words

    assert same_words("2,9 milliards de dollars", "2,9 Milliards de dollars.")
    assert not same_words("2,9 milliards de dollars", "17,9 milliards de dollars")
    assert not same_words("", "")


def test_the_span_reader_reads_the_question_the_part_its_context_and_the_closing_token() -> None:
    from qa.reader import span_rows

    keep = span_rows(40, first=5, lo=20, hi=25, context=3)
    assert list(keep) == [0, 1, 2, 3, 4, *range(17, 28), 39]
    assert list(span_rows(12, first=5, lo=5, hi=11, context=16)) == [0, 1, 2, 3, 4, *range(5, 11), 11]
    assert isinstance(keep, np.ndarray)
