"""The PII detector: what it finds (exact spans), what it must not, and its dev-data precision."""

from __future__ import annotations

from itertools import pairwise

import pytest

from ragwright.guardrails.findings import Span
from ragwright.guardrails.pii import PII_KINDS, find_pii, redact
from ragwright.jsonl import read_jsonl
from tests.conftest import SHARED_DATA, requires_shared_data


def found(text: str, kinds: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(kind, text) of each span: readable assertions that still pin the exact boundaries."""
    return [(s.kind, text[s.start : s.end]) for s in find_pii(text, kinds)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail me at jane.doe+rag@example.co.uk.", ("EMAIL_ADDRESS", "jane.doe+rag@example.co.uk")),
        ("Call +1 905-674-3793 tomorrow", ("PHONE_NUMBER", "+1 905-674-3793")),
        ("Call (905) 674-3793 tomorrow", ("PHONE_NUMBER", "(905) 674-3793")),
        ("Call 905.674.3793 tomorrow", ("PHONE_NUMBER", "905.674.3793")),
        ("Fax: 345-899-3560x4587", ("PHONE_NUMBER", "345-899-3560x4587")),
        ("Desk: +41 (0)85 806 98 67", ("PHONE_NUMBER", "+41 (0)85 806 98 67")),
        ("Ring 0688 872 49 99 after six", ("PHONE_NUMBER", "0688 872 49 99")),
        ("Call me on 01.84.17.61.18?", ("PHONE_NUMBER", "01.84.17.61.18")),
        ("Phone: 451 5986", ("PHONE_NUMBER", "451 5986")),
        ("Charge card 4111 1111 1111 1111 today", ("CREDIT_CARD", "4111 1111 1111 1111")),
        ("Amex 3782-822463-10005 expired", ("CREDIT_CARD", "3782-822463-10005")),
        ("My card 4454794511390933 is lost", ("CREDIT_CARD", "4454794511390933")),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32")),
        ("Wire to DE89370400440532013000.", ("IBAN_CODE", "DE89370400440532013000")),
        ("Here's my SSN: 460-89-9847", ("US_SSN", "460-89-9847")),
        ("Blocked at address 179.177.214.91, why?", ("IP_ADDRESS", "179.177.214.91")),
        (
            "The host is 2001:db8:85a3::8a2e:370:7334 now",
            ("IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
        ),
        ("See https://www.example.com.pt/me/).", ("DOMAIN_NAME", "https://www.example.com.pt/me/")),
        ("My driver's license number is F162823540116", ("US_DRIVER_LICENSE", "F162823540116")),
        ("ZIP: 394 13", ("ZIP_CODE", "394 13")),
        ("my zip code is 94110-1234.", ("ZIP_CODE", "94110-1234")),
        ("Send it to 221 Baker Street, London", ("STREET_ADDRESS", "221 Baker Street")),
        ("My name is Ruth R. Montez. I live here.", ("PERSON", "Ruth R. Montez")),
        ("Is this Mrs. Nanaho Nishiyama?", ("PERSON", "Nanaho Nishiyama")),
        ("Ask Miss Marple.", ("PERSON", "Marple")),
        ("Name:    Šárka Ottová\nAddress: unknown", ("PERSON", "Šárka Ottová")),
    ],
)
def test_finds_each_kind_with_exact_span(text: str, expected: tuple[str, str]) -> None:
    assert found(text) == [expected]


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("CREDIT_CARD", "Charge card 4111 1111 1111 1112 today"),  # Luhn fails
        ("CREDIT_CARD", "Charge card 4111 11 111111 1111 1111 today"),  # ragged groups
        ("IBAN_CODE", "IBAN GB82 WEST 1234 5698 7654 33 please"),  # mod-97 fails
        ("IBAN_CODE", "IBAN ZZ82 WEST 1234 5698 7654 32 please"),  # no such country
        ("US_SSN", "SSN 000-12-3456, 666-12-3456, 912-12-3456, 123-00-4567, 123-45-0000"),
        ("IP_ADDRESS", "The address 999.1.1.1 and 10.0.0.256 are not IPs"),
    ],
)
def test_validators_reject_invalid_numbers(kind: str, text: str) -> None:
    assert find_pii(text, [kind]) == []


@pytest.mark.parametrize(
    "text",
    [
        "Charge card 4111 1111 1111 1112 today",
        "IBAN GB82 WEST 1234 5698 7654 33 please",
        "The address 999.1.1.1 and 10.0.0.256 are not IPs",
        "In 2023 it cost $1,299.99, up 12.5% from 1999; population 1234567890.",
        "Upgrade to 10.4.1234 or 3.12.1; build 2.13.0.1024 ships on 2024-03-01 12:30:45.",
        "Meet at 12:30:45 or 10:15; the ratio is 3:2:1.",
        "Order 4111111111111112 shipped; ISBN 978-3-16-148410-0.",
        "Lists 1 2 3 4 5 6 7 8 9 10 11 12 13 and 05 10 15.",
        "name: Build\nsteps: run the tests",  # a YAML key, not a person
        "my name is not important and mr. smith is lower case; I miss Paris.",
        "Edit setup.py and prompt.yaml; write to ops@localhost.",
        "",
    ],
)
def test_look_alikes_are_not_flagged(text: str) -> None:
    assert find_pii(text) == []


def test_overlapping_candidates_resolve_to_the_longest() -> None:
    # The IBAN's digits alone would pass as a 14-digit number, and "+1 " extends the US phone.
    text = "From GB56HXDO88167774656119, call +1 905-674-3793."
    assert found(text) == [
        ("IBAN_CODE", "GB56HXDO88167774656119"),
        ("PHONE_NUMBER", "+1 905-674-3793"),
    ]
    spans = find_pii(text)
    assert all(a.end <= b.start for a, b in pairwise(spans))


def test_spans_sorted_by_start_and_every_kind_known() -> None:
    text = (
        "Dr. Alice Ng (alice@clinic.org, 0688 872 49 99) paid with 4111-1111-1111-1111 "
        "from 10.1.2.3; SSN 460-89-9847."
    )
    spans = find_pii(text)
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    assert {s.kind for s in spans} == {
        "PERSON",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IP_ADDRESS",
        "US_SSN",
    }
    assert {s.kind for s in spans} <= set(PII_KINDS)


def test_redact_replaces_spans_with_their_kind() -> None:
    text = "mail jane@example.com now, card 4111 1111 1111 1111."
    assert redact(text, find_pii(text)) == "mail <EMAIL_ADDRESS> now, card <CREDIT_CARD>."
    assert redact(text, []) == text
    with pytest.raises(ValueError, match="overlapping"):
        redact(text, [Span(0, 10, "A"), Span(5, 12, "B")])


def test_kinds_filter_limits_the_search() -> None:
    text = "jane@example.com, +1 905-674-3793"
    assert found(text, ("PHONE_NUMBER",)) == [("PHONE_NUMBER", "+1 905-674-3793")]
    assert found(text, ()) == []
    with pytest.raises(ValueError, match="EMAIL"):
        find_pii(text, ["EMAIL"])


def test_non_ascii_text_keeps_offsets() -> None:
    text = (
        "Žluťoučký kůň 🐴 — écrivez à jöns@exämple.se ou à jons@example.se, tél +33 1 23 45 67 89"
    )
    spans = find_pii(text)
    assert [(s.kind, text[s.start : s.end]) for s in spans] == [
        ("EMAIL_ADDRESS", "jons@example.se"),
        ("PHONE_NUMBER", "+33 1 23 45 67 89"),
    ]
    assert redact(text, spans).endswith("à <EMAIL_ADDRESS>, tél <PHONE_NUMBER>")


# Measured on the dev data (benchmarks/guardrails_pii.py): every shipped kind at 1.000.
# Floors sit a little below, so a change that costs precision fails here. Not checked:
# US_DRIVER_LICENSE, with 2 predictions only.
PRECISION_FLOORS = {
    "CREDIT_CARD": 0.97,
    "DOMAIN_NAME": 0.95,
    "EMAIL_ADDRESS": 0.95,
    "IBAN_CODE": 0.95,
    "PHONE_NUMBER": 0.95,
    "STREET_ADDRESS": 0.9,
    "PERSON": 0.95,
    # 5-7 predictions each: one false positive in five still passes
    "US_SSN": 0.8,
    "IP_ADDRESS": 0.8,
    "ZIP_CODE": 0.8,
}


@requires_shared_data("guardrails", "pii_dev.jsonl")
def test_dev_data_precision_and_recall() -> None:
    path = SHARED_DATA / "guardrails" / "pii_dev.jsonl"
    predicted: dict[str, int] = dict.fromkeys(PII_KINDS, 0)
    correct: dict[str, int] = dict.fromkeys(PII_KINDS, 0)
    structured_gold = structured_found = 0
    for _, record in read_jsonl(path, what="PII dev data").records():
        gold = [Span(s["start"], s["end"], s["entity_type"]) for s in record["spans"]]
        spans = find_pii(record["text"])
        for span in spans:
            predicted[span.kind] += 1
            correct[span.kind] += any(
                g.kind == span.kind and g.start < span.end and span.start < g.end for g in gold
            )
        for g in gold:
            if g.kind in ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "US_SSN", "IP_ADDRESS"):
                structured_gold += 1
                structured_found += any(
                    s.kind == g.kind and s.start < g.end and g.start < s.end for s in spans
                )
    for kind, floor in PRECISION_FLOORS.items():
        assert predicted[kind] >= 5, kind
        assert correct[kind] / predicted[kind] >= floor, kind
    assert structured_found / structured_gold >= 0.9


@pytest.mark.parametrize(
    ("text", "kind", "redacted"),
    [
        ("I am Jane Doe and I need help.", "PERSON", "I am <PERSON> and I need help."),
        ("my name is jane doe", "PERSON", "my name is <PERSON>"),
        ("Thanks, Maria Gonzalez", "PERSON", "Thanks, <PERSON>"),
        ("Best regards,\nPeter Müller", "PERSON", "Best regards,\n<PERSON>"),
        ("I live at Hauptstraße 5, 10115 Berlin.", "STREET_ADDRESS", "I live at <STREET_ADDRESS>."),
        (
            "Send it to 1600 Pennsylvania Avenue NW, Washington, DC 20500.",
            "STREET_ADDRESS",
            "Send it to <STREET_ADDRESS>.",
        ),
        ("write to jane.doe at example dot com", "EMAIL_ADDRESS", "write to <EMAIL_ADDRESS>"),
        ("jane [at] example [dot] org is mine", "EMAIL_ADDRESS", "<EMAIL_ADDRESS> is mine"),
        ("My SSN is 123 45 6789", "US_SSN", "My SSN is <US_SSN>"),
        ("I was born on 12/03/1985.", "DATE_OF_BIRTH", "I was born on <DATE_OF_BIRTH>."),
        ("Date of birth: 3 March 1985", "DATE_OF_BIRTH", "Date of birth: <DATE_OF_BIRTH>"),
        ("My passport number is X12345678.", "US_PASSPORT", "My passport number is <US_PASSPORT>."),
    ],
)
def test_forms_people_really_write_are_found_and_redacted_whole(
    text: str, kind: str, redacted: str
) -> None:
    spans = find_pii(text)
    assert [s.kind for s in spans] == [kind]
    assert redact(text, spans) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "I am happy with the service.",
        "Thanks, that helped a lot.",
        "I am New to this tool, how do I start?",
        "During 1971 the plant doubled its output.",
        "Regards, the team",
        "I was born to run",
        "The passport office opens at 9.",
        "Meet me at home, then we go to the dot com party.",
        "My SSN is not something I share.",
    ],
)
def test_their_cues_alone_are_not_personal_data(text: str) -> None:
    assert find_pii(text) == []
