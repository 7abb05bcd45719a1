"""The slot checks: what a question asks about and for, and whether a quoted sentence fills it."""

from __future__ import annotations

import pytest

from qa.slots import (
    asked_slot,
    count_unfilled,
    counted,
    names_missing,
    no_count_of,
    question_names,
    slot_unfilled,
    unfilled,
    what_is_asked,
)


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("How many people work at Varenne's plants in Morocco?", ["morocco", "varenne"]),
        ("Combien d'emplois le campus de Mulhouse créera-t-il ?", ["mulhouse"]),
        ("Combien les États-Unis apportent-ils au fonds de Lyon ?", ["etats unis", "lyon"]),
        ("Quel est le montant investi par AWS ?", ["aws"]),
        ("Combien de salariés ?", []),
        # A century is no name; an acronym's plural is the acronym.
        ("Quel reproche faisait-on aux couturiers du XXème siècle ?", []),
        ("At what level are students from other IEPs admitted?", ["iep"]),
    ],
)
def test_the_names_a_question_asks_about_leave_out_its_question_words(question: str, names: list[str]) -> None:
    assert question_names(question) == names


@pytest.mark.parametrize(
    ("names", "text", "missing"),
    [
        (["dresde"], "Hanei will build its fab in Dresden, Saxony.", 0.0),
        (["dunkerque"], "The Dunkirk electrolyser will supply a steelworks.", 0.0),
        (["germany"], "Le ministre allemand de l'Économie, à Berlin, en Allemagne.", 0.0),
        (["etats unis"], "the United States will contribute", 0.0),
        (["french", "fukuoka"], "quelque 450 entreprises françaises sont implantées à Fukuoka", 0.0),
        (["mulhouse"], "L'usine créera 2 000 emplois directs à Kumamoto.", 1.0),
        (["morocco", "varenne"], "Varenne shut seven of its eleven plants.", 0.5),
        ([], "anything", 0.0),
    ],
)
def test_a_name_is_found_in_either_language_and_a_missing_one_counts(names: list[str], text: str, missing: float) -> None:
    assert names_missing(names, text) == missing


def test_a_count_asks_for_the_thing_named_after_how_many() -> None:
    assert {"plaqu", "wafer"} <= counted("Combien de plaquettes par mois l'usine produira-t-elle ?")
    assert {"peopl", "emplo", "salar"} <= counted("How many people work at the plant?")
    assert "par" not in counted("Combien de plaquettes par mois ?") and "work" not in counted("How many people work there?")
    assert counted("Combien AWS va-t-il investir ?") == frozenset()


@pytest.mark.parametrize(
    ("question", "text", "number", "unfilled"),
    [
        ("How many people work at Varenne's plants?", "It shut seven of the company's eleven plants.", "eleven", True),
        ("How many people work at Varenne's plants?", "The group employs 4,200 people.", "4,200", False),
        ("Combien de personnes travaillent chez Varenne ?", "The group employs 4,200 people.", "4,200", False),
        ("Combien de plaquettes produira-t-elle ?", "KASM will process 40,000 twelve-inch wafers a month.", "40,000", False),
        ("Combien AWS va-t-il investir ?", "AWS investira 2 000 milliards de yens.", "2 000", False),
    ],
)
def test_a_number_fills_a_count_only_when_it_counts_what_is_asked(question: str, text: str, number: str, unfilled: bool) -> None:
    start = text.index(number)
    assert count_unfilled(counted(question), text, start, start + len(number)) is unfilled


@pytest.mark.parametrize(
    ("question", "slot"),
    [
        ("How much hydrogen will the Dunkirk electrolyser produce per year?", ("measure", "mass")),
        ("Quelle sera la puissance du campus d'Inzai ?", ("measure", "power")),
        ("What is the annual capacity in TEU of the Port Island terminal?", ("measure", "teu")),
        ("Quelle part de la coentreprise Aoba Motors détient-il ?", ("measure", "share")),
        ("How large is the Himeji plant's building, in square metres?", ("measure", "area")),
        ("Combien d'eau l'usine consommera-t-elle par jour ?", ("measure", "volume")),
        ("Who is Germany's federal economy minister?", ("role", "minister")),
        ("Quel élu de l'Ohio a présenté l'aide ?", ("role", "elected")),
        ("Qui dirigera le site d'Hydrova à Dunkerque ?", ("role", "head")),
        ("Who is the prefect deciding on the permit?", ("role", "prefect")),
        # Neither: a power chip is no power asked, containers are counted, a president named in passing is no role asked.
        ("How much did Tokyo approve for the power-chip research centre?", None),
        ("Combien de terminaux à conteneurs l'attaque a-t-elle arrêtés ?", None),
        ("Qui a offert un banquet d'État au président français ?", None),
        # Leading operations or a staging is no role; leading a company or a site is.
        ("Qui dirige les opérations ottomanes sur le théâtre géorgien ?", None),
        ("Qui a dirigé la mise en scène au Terra Kulture ?", None),
        ("Who will run the Dresden plant?", ("role", "head")),
        ("Who is Brad Smith?", None),
    ],
)
def test_a_question_asks_for_a_measure_or_a_role(question: str, slot: tuple[str, str] | None) -> None:
    s = asked_slot(question)
    assert (s and (s.kind, s.name)) == slot


@pytest.mark.parametrize(
    ("question", "text", "unfilled"),
    [
        ("How much hydrogen will the electrolyser produce per year?", "The 150-megawatt electrolyser will supply a steelworks.", True),
        ("How much hydrogen will the electrolyser produce per year?", "It will produce up to 30,000 tonnes of hydrogen a year.", False),
        ("Combien d'eau l'usine consommera-t-elle par jour ?", "Les besoins en eau du site, estimés à 12 000 tonnes par jour.", False),
        ("Combien d'eau l'usine consommera-t-elle par jour ?", "L'usine recyclera 85 % de son eau.", True),
        ("What will be the power of the data centre near Mulhouse?", "D'une puissance de 120 mégawatts, il doit ouvrir en 2026.", False),
        ("What will be the power of the data centre near Mulhouse?", "The campus will open in 2026 and employ 300 people.", True),
        ("Quelle part de la coentreprise Aoba détient-il ?", "Aoba holds 30 per cent of the venture.", False),
        ("Who is Germany's federal economy minister?", "Le ministre allemand de l'Économie, Jens Albrecht, a salué le projet.", False),
        ("Quel ministre japonais des Transports s'est exprimé ?", "Seiryu Terminal's president, Masato Kuroda, told a news conference.", True),
        ("Qui dirige le site de Port-Jérôme ?", "Sa direction a été confiée à Émilie Rousseau.", False),
        ("Who heads the Canadian AI safety institute?", "Its director, Akiko Murata, said the institute would start with evaluations.", False),
    ],
)
def test_a_sentence_fills_a_measure_with_a_unit_of_its_kind_and_a_role_with_its_word(question: str, text: str, unfilled: bool) -> None:
    assert slot_unfilled(asked_slot(question), text) is unfilled


@pytest.mark.parametrize(
    ("question", "sentence", "unfilled"),
    [
        ("How many engineers will come from Taiwan?", "L'usine emploiera 1 700 personnes, dont environ 400 ingénieurs venus de Taïwan.", False),
        ("How many people work at Varenne's plants in Morocco?", "It shut seven of the company's eleven plants, including its two sites in Morocco.", True),
        ("And how many security engineers will it hire?", "Il prévoit aussi de recruter une quinzaine d'ingénieurs en cybersécurité.", False),
        ("How many people attended the Lyon summit?", "Au total, plus de 1 800 participants venus de 60 pays ont assisté au sommet.", False),
        ("How many French companies are based in Fukuoka?", "Cordia won an order for 30 metro trains for Fukuoka's subway.", True),
        # What is not a thing we know is given the benefit of the doubt: horsemen may be the men asked for.
        ("Combien d'hommes composent la chevalerie anglaise ?", "La chevalerie anglaise compte 700 cavaliers.", False),
        ("Combien de personnes vivent dans Chicagoland ?", "L'aire urbaine compte 9 785 747 habitants.", False),
        # Money, time and measures are not counts of things: the count check leaves them to the others.
        ("Combien d'argent Ondelis a-t-elle levé ?", "Ondelis a levé 2,1 milliards d'euros.", False),
        ("Combien de temps le port a-t-il été bloqué ?", "Le port a été bloqué pendant deux jours et demi.", False),
    ],
)
def test_a_sentence_fills_a_count_when_one_of_its_numbers_counts_what_is_asked(question: str, sentence: str, unfilled: bool) -> None:
    assert no_count_of(counted(question), sentence) is unfilled


@pytest.mark.parametrize(
    ("question", "sentence", "date", "unfilled_"),
    [
        ("How much is Mitsuwa investing in the joint venture?", "Mitsuwa Electronics will hold 30 per cent of the venture.", "", True),
        ("How much is Mitsuwa investing in the joint venture?", "Mitsuwa will put ¥120 billion into the venture.", "", False),
        ("When should the Marcoussis campus open?", "The company has not given a size for its second site.", "", True),
        ("When should the Marcoussis campus open?", "The campus should open in the second half of 2026.", "", False),
        ("How many cars did UAZ build in 2015?", "Entre 1941 et 2006, UAZ a vendu 4 millions de véhicules.", "", True),
        ("How many cars did UAZ build in 2015?", "En 2015, UAZ a produit 50 000 véhicules.", "", False),
        # A year the article's date gives: "mardi" in an article of 2024 is in 2024.
        ("How much did Microsoft announce in 2024?", "Microsoft a annoncé mardi 2,9 milliards de dollars.", "2024-04-10", False),
        ("Combien d'adhérents Lutte ouvrière compte-t-elle ?", "Lutte ouvrière a fermé sept de ses onze usines.", "", True),
        ("How much initial funding did the institute receive?", "It received 100 million pounds of initial funding.", "", False),
        # "Puissance de calcul" is what the money buys: money is asked, not a power.
        ("Combien SoftBank va-t-il investir dans sa puissance de calcul ?", "SoftBank investira 150 milliards de yens.", "", False),
        ("Who is Brad Smith?", "Brad Smith, président de Microsoft, a annoncé l'investissement.", "", False),
    ],
)
def test_what_is_asked_is_unfilled_without_its_money_time_year_or_count(question: str, sentence: str, date: str, unfilled_: bool) -> None:
    assert unfilled(what_is_asked(question), sentence, sentence, sentence, date) is unfilled_
