"""Personal data in a text, found by pattern and validated, so that it can be redacted.

Runs on every question and answer, so it is plain ``re`` with precompiled
patterns: no model, no I/O. Precision comes first (a false alarm blocks or
mangles a harmless request), so each kind pairs a pattern with a check that
rejects look-alikes: Luhn for cards, mod-97 for IBANs, the issued SSN ranges,
octet ranges for IPv4, enough digits in a phone grouping. Names, zip codes and
licences have no such checksum; they are only taken after an explicit cue
("my name is", "Mr.", "zip code:", "driver's license number"), and street
addresses only as "number, capitalised words, street type", which trades recall
for precision. Kind names follow presidio (a URL is a DOMAIN_NAME, as in the
presidio-research data). Measured in ``benchmarks/guardrails_pii.py``.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Collection, Iterator, Sequence

from ragwright.guardrails.findings import Span

__all__ = ["PII_KINDS", "find_pii", "redact"]

_Finder = Callable[[str], Iterator[tuple[int, int]]]

# --- e-mail and web addresses ------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_URL = re.compile(r"(?<![\w@/])(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_HOST = re.compile(r"(?:https?://)?(?:[\w-]+\.)+[A-Za-z]{2,24}(?=[/:?#]|$)", re.IGNORECASE)


# "jane.doe at example dot com", "jane [at] example [dot] org": the address spelt out to
# dodge filters; the "dot" word is required, so "meet me at home" is not an address.
_EMAIL_SPELLED = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}[ \t]*(?:\[at\]|\(at\)|[ \t]at[ \t])[ \t]*"
    r"[A-Za-z0-9-]{1,63}(?:[ \t]*(?:\[dot\]|\(dot\)|[ \t]dot[ \t])[ \t]*[A-Za-z0-9-]{1,63})+"
    r"(?![\w-])",
    re.IGNORECASE,
)


def _spelled_emails(text: str) -> Iterator[tuple[int, int]]:
    if "dot" not in text.lower():
        return
    for m in _EMAIL_SPELLED.finditer(text):
        yield m.span()


def _emails(text: str) -> Iterator[tuple[int, int]]:
    yield from _spelled_emails(text)
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        if ".." not in m.group():
            yield m.span()


def _urls(text: str) -> Iterator[tuple[int, int]]:
    # Only links with a scheme or www.: a bare "name.tld" is too often a file name (setup.py).
    for m in _URL.finditer(text):
        value = m.group().rstrip(".,;:!?)]}")
        if _URL_HOST.match(value):
            yield m.start(), m.start() + len(value)


# --- numbers with a checksum or a range rule ---------------------------------------------

# Patterns start with a character class and check the character before it with a
# lookbehind placed after it ("\d(?<!\w\d)"): same meaning as a leading lookbehind,
# but the engine can skip ahead to candidate characters, about twice as fast.
_CARD = re.compile(r"\d(?<![\w.,-]\d)(?:[ -]?\d){12,18}(?![\w-]|[.,]\d)")
_SSN = re.compile(r"(\d(?<![\w.-]\d)\d\d)-(\d\d)-(\d{4})(?![\w-]|\.\d)")
_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"[0-9A-Fa-f:](?<![\w:.].)[0-9A-Fa-f:]{1,38}(?![\w:]|\.\d)")
_CARD_SEPARATOR = re.compile(r"[ -]")
_HEX_LETTER = re.compile(r"[A-Fa-f]")
_IBAN = re.compile(r"[A-Za-z](?<![A-Za-z0-9].)[A-Za-z]\d\d(?: ?[A-Za-z0-9]){11,30}")

# Lengths from the SWIFT IBAN registry; a country missing here is never reported.
_IBAN_LENGTHS = {
    entry[:2]: int(entry[2:])
    for entry in """
    AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27
    DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22
    IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19
    MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31
    SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30
    """.split()  # noqa: SIM905 - a table reads better as text
}


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for m in _CARD.finditer(text):
        value = m.group()
        groups = _CARD_SEPARATOR.split(value)
        # Grouped numbers use one separator and groups of 3-6 (4-4-4-4, 4-6-5): a list of
        # small numbers separated by spaces is not a card even if its digits pass Luhn.
        if len(groups) > 1 and (
            len(set(_CARD_SEPARATOR.findall(value))) > 1
            or any(not 3 <= len(g) <= 6 for g in groups)
        ):
            continue
        digits = "".join(groups)
        if len(set(digits)) > 1 and _luhn(digits):
            yield m.span()


# "SSN is 123 45 6789": the spaced form only after a cue (a bare one reads as a phone number).
_SSN_CUE = re.compile(
    r"\b(?:ssn|social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?)(?:[ \t]+is)?[ \t]*:?[ \t]*"
    r"(\d{3}[ \t]\d{2}[ \t]\d{4})(?![\w-])",
    re.IGNORECASE,
)


def _ssns(text: str) -> Iterator[tuple[int, int]]:
    lowered = text.lower()
    if "ssn" in lowered or "social" in lowered:
        for m in _SSN_CUE.finditer(text):
            area, group, serial = m.group(1).split()
            if area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000":
                yield m.span(1)
    for m in _SSN.finditer(text):
        area, group, serial = m.groups()
        if area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000":
            yield m.span()


def _ips(text: str) -> Iterator[tuple[int, int]]:
    for m in _IPV4.finditer(text):
        if all(int(octet) <= 255 for octet in m.group().split(".")):
            yield m.span()
    if text.count(":") < 2:
        return
    for m in _IPV6.finditer(text):
        value = m.group()
        # Three groups or more, and a hex letter unless written in full (eight groups):
        # keeps times (12:30:45), ratios and "1::2" out.
        if sum(1 for g in value.split(":") if g) < 3 or (
            value.count(":") < 7 and not _HEX_LETTER.search(value)
        ):
            continue
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        yield m.span()


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for m in _IBAN.finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2].upper())
        if length is None:
            continue
        # The pattern may run on into the next words; cut at the country's length.
        chars = [i for i in range(m.start(), m.end()) if text[i] != " "]
        if len(chars) < length:
            continue
        end = chars[length - 1] + 1
        if end < len(text) and text[end].isalnum():
            continue
        code = text[m.start() : end].replace(" ", "").upper()
        number = "".join(str(int(c, 36)) for c in code[4:] + code[:4])
        if int(number) % 97 == 1:
            yield m.start(), end


# --- phone numbers -----------------------------------------------------------------------

_PHONE_INTERNATIONAL = re.compile(
    r"(?:\+(?<![\w+]\+)|00(?<![\w+.,-]00))[1-9]\d{0,2}(?:[ .-]?\(0\))?"
    r"(?:[ .-]?(?:\(\d{1,5}\)|\d{1,5})){1,6}"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?(?![\w-]|[.]\d)"
)
# US forms: (905) 674-3793, 905-674-3793, 905.674.3793, 1 905 674 3793 (one separator).
_PHONE_US = re.compile(
    r"(?:\((?<![\w+.-]\()[2-9]\d\d\)[ ]?\d{3}-"
    r"|\d(?<![\w+.-]\d)(?:(?<=1)[ .-]?[2-9]|(?<=[2-9]))\d\d([-. ])\d{3}\1)\d{4}"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?(?![\w-]|[.]\d)"
)
# European national forms start with a trunk 0 (0688 872 49 99, 01.84.17.61.18) or put
# the area code in parentheses ((64) 3591-3246); bare digit groups are too often not phones.
_PHONE_NATIONAL = re.compile(
    r"[0(](?<![\w+.,-].)(?:(?<=0)\d{1,4}|(?<=\()0?\d{2,3}\))(?:[ .-]\d{2,8}){1,4}"
    r"(?![\w-]|[.,]\d)"
)
_PHONE_CUE_WORDS = ("phone", "tel", "mobile", "cell", "fax", "call me", "text me")
_PHONE_CUE = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|fax|call me (?:at|on)|text me (?:at|on))\b"
    r"(?:[ \t]*(?:number|no\.?|#))?(?:[ \t]+is)?[ \t]*:?\s{0,8}"
    r"(\+?\(?\d[\d ().-]{5,20}\d)",
    re.IGNORECASE,
)


_EXTENSION = re.compile(r"x|ext", re.IGNORECASE)
_SEPARATOR = re.compile(r"[ .-]")


def _digit_count(value: str) -> int:
    return sum(char.isdigit() for char in value)


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for m in _PHONE_INTERNATIONAL.finditer(text):
        number = _EXTENSION.split(m.group())[0].replace("(0)", "")
        digits = _digit_count(number)
        if 8 <= digits <= 15:
            yield m.span()
    for m in _PHONE_US.finditer(text):
        yield m.span()
    for m in _PHONE_NATIONAL.finditer(text):
        value = m.group()
        separators = _SEPARATOR.findall(value)
        # One separator kind; two groups alone need 10+ digits (a house number with a
        # leading zero and a street number is also "0xxxx xxxx").
        minimum = 9 if len(separators) > 1 else 10
        if minimum <= _digit_count(value) <= 12 and len(set(separators)) == 1:
            yield m.span()
    # After an explicit cue, shorter local forms (451 5986) count too.
    lowered = text.lower()
    if any(cue in lowered for cue in _PHONE_CUE_WORDS):
        for m in _PHONE_CUE.finditer(text):
            if 7 <= _digit_count(m.group(1)) <= 15:
                yield m.span(1)


# --- cue-led kinds: no checksum, so only after words that announce them --------------------

_ZIP_CUE = re.compile(
    r"\b(?:zip|postal code|post code|postcode)(?:[ \t]*code)?(?:[ \t]+is)?[ \t]*:?[ \t]*"
    r"(\d{3,5}(?:[ -]\d{2,4})?|[A-Z]\d[A-Z][ ]?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2})"
    r"(?![\w-])",
    re.IGNORECASE,
)
_LICENSE_CUE = re.compile(
    r"\bdriver['’]?s?[ \t]+licen[cs]e(?:[ \t]*(?:number|no\.?|#))?(?:[ \t]+is)?[ \t]*:?[ \t]*"
    r"([A-Z0-9][A-Z0-9-]{3,18}[A-Z0-9])(?![\w-])",
    re.IGNORECASE,
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_BIRTH_CUE = re.compile(
    r"\b(?:born(?:[ \t]+on)?|date[ \t]+of[ \t]+birth|d\.?o\.?b\.?|birthday(?:[ \t]+is)?"
    r"|geboren(?:[ \t]+am)?)[ \t]*:?[ \t]*"
    rf"(\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{_MONTH}[ \t,]+\d{{4}}"
    rf"|{_MONTH}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+\d{{4}})(?![\w-])",
    re.IGNORECASE,
)
_PASSPORT_CUE = re.compile(
    r"\b(?:passport|reisepass)(?:[ \t]+(?:number|no\.?|#|nr\.?))?(?:[ \t]+is)?[ \t]*:?[ \t]*"
    r"([A-Z0-9]{6,9})(?![\w-])",
    re.IGNORECASE,
)

# "my name is", or a title: Mr./Mrs./Ms./Dr./Prof. in any case, "Miss" capitalised only
# ("I miss Paris" names no one).
_NAME_CUE = re.compile(
    r"[mdp](?<!\w.)(?:y name is|(?<=m)(?:r|rs|s)\.|(?<=d)r\.|(?<=p)rof\.|(?-i:(?<=M)iss))[ \t]+",
    re.IGNORECASE,
)
# "Name:" starting a line, as in a form; two words at least, so that "name: Build" in a
# YAML snippet is not a person.
_NAME_LABEL = re.compile(r"^[ \t]*(?:full[ \t]+)?name:[ \t]*", re.IGNORECASE | re.MULTILINE)
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*\.?|[ \t]+")


def _cued(pattern: re.Pattern[str], *words: str) -> _Finder:
    """Group 1 of ``pattern`` where it holds a digit; ``words``: one must be in the text."""

    def find(text: str) -> Iterator[tuple[int, int]]:
        lowered = text.lower()
        if not any(word in lowered for word in words):
            return
        for m in pattern.finditer(text):
            if any(char.isdigit() for char in m.group(1)):
                yield m.span(1)

    return find


# "123 Main Street", "1987 74 Diakou St.": a house number, one to three capitalised
# words and a street type. Continental forms (Loorenstrasse 149, rue La Boétie) are missed.
_STREET = re.compile(
    r"\d(?<!\w\d)\d{0,5}(?:[ \t]+\d{1,5})?((?:[ \t]+[^\W\d_][\w'’.-]*){1,3})[ \t]+"
    r"(?:Street|Avenue|Road|Drive|Lane|Boulevard|Court|Way|Place|Terrace|Close|Crescent"
    r"|Parkway|Square|Highway|Circle|Trail|(?:St|Ave|Rd|Dr|Ln|Blvd|Ct|Pl|Sq|Hwy)\b\.?)(?!\w)"
)


# What may follow a street: a quadrant ("NW"), then ", City, ST 12345" (US form, the state
# code required so that any capitalised word after a comma is not taken as a city).
_STREET_TAIL = re.compile(
    r"(?:[ \t]+(?:NW|NE|SW|SE)\b)?(?:,[ \t]*(?:[A-Z][a-z]+[ \t]?){1,3},[ \t]*[A-Z]{2}"
    r"(?:[ \t]+\d{5}(?:-\d{4})?)?(?![\w-]))?"
)
# "Hauptstraße 5, 10115 Berlin": a German street, its number, and a postcode and town if given.
_STREET_DE = re.compile(
    r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|allee|platz|gasse|damm)[ \t]+"
    r"\d{1,4}[a-z]?\b(?:,[ \t]*\d{5}[ \t]+[A-ZÄÖÜ][\wäöüß-]+)?"
)


def _streets(text: str) -> Iterator[tuple[int, int]]:
    for m in _STREET.finditer(text):
        if all(word[0].isupper() for word in m.group(1).split()):
            tail = _STREET_TAIL.match(text, m.end())
            yield m.start(), tail.end() if tail else m.end()
    for m in _STREET_DE.finditer(text):
        yield m.span()


# Weaker cues: "I am Jane Doe", "Thanks, Maria Gonzalez", "Best regards,\nPeter Müller". They
# take two capitalised words at least ("I am Happy" names no one).
_NAME_SOFT_CUE = re.compile(
    r"\b(?:I[ \t]+am|I['’]m|this[ \t]+is|thanks|thank[ \t]+you|regards|sincerely|cheers)"
    r"(?:[ \t]*[,:]?[ \t]*\n?|[ \t]+)(?=[^\W\d_])",
    re.IGNORECASE,
)
# After "my name is", a name typed in lower case: one or two words, not common ones.
_NAME_LOWER = re.compile(
    r"(?i:my[ \t]+name[ \t]+is)[ \t]+([a-z][a-z'’-]+(?:[ \t]+[a-z][a-z'’-]+)?)"
)
_NOT_NAME = frozenset(
    re.findall(
        r"\w+",
        "and but so i im the a an not from in at on to with here please just called also still"
        " new really very is was what this that my your of for",
    )
)


def _lower_names(text: str) -> Iterator[tuple[int, int]]:
    for m in _NAME_LOWER.finditer(text):
        end = None
        for word in re.finditer(r"\S+", m.group(1)):
            if word.group().lower() in _NOT_NAME:
                break
            end = m.start(1) + word.end()
        if end is not None:
            yield m.start(1), end


def _names(text: str) -> Iterator[tuple[int, int]]:
    yield from _lower_names(text)
    # Up to four capitalised words after the cue: "Ruth R. Montez", "Šárka Ottová".
    cues = [(cue, 1) for cue in _NAME_CUE.finditer(text)]
    cues += [(cue, 2) for cue in _NAME_SOFT_CUE.finditer(text)]
    if "name" in text.lower():
        cues += [(cue, 2) for cue in _NAME_LABEL.finditer(text)]
    for cue, fewest in cues:
        pos, words, end = cue.end(), 0, None
        while words < 4 and (m := _NAME_WORD.match(text, pos)):
            token = m.group()
            if not token.isspace():
                if not token[0].isupper():
                    break
                words += 1
                end = m.end()
                if token.endswith(".") and len(token) > 2:  # a full stop, not an initial
                    end -= 1
                    break
            pos = m.end()
        if end is not None and words >= fewest:
            yield cue.end(), end


# Priority breaks ties between equally long overlapping candidates (first wins).
_FINDERS: dict[str, _Finder] = {
    "IBAN_CODE": _ibans,
    "CREDIT_CARD": _cards,
    "US_SSN": _ssns,
    "EMAIL_ADDRESS": _emails,
    "DOMAIN_NAME": _urls,
    "IP_ADDRESS": _ips,
    "PHONE_NUMBER": _phones,
    "STREET_ADDRESS": _streets,
    "US_DRIVER_LICENSE": _cued(_LICENSE_CUE, "licen"),
    "ZIP_CODE": _cued(_ZIP_CUE, "zip", "post"),
    "PERSON": _names,
    "DATE_OF_BIRTH": _cued(_BIRTH_CUE, "born", "birth", "dob", "d.o.b", "geboren"),
    "US_PASSPORT": _cued(_PASSPORT_CUE, "passport", "reisepass"),
}
PII_KINDS: tuple[str, ...] = tuple(_FINDERS)


def find_pii(text: str, kinds: Collection[str] | None = None) -> list[Span]:
    """Spans of personal data in ``text``, sorted by start and never overlapping.

    ``kinds`` limits the search to some of ``PII_KINDS`` (``None``: all); an unknown
    kind raises ``ValueError`` so that a misspelt setting never silently disables a check.
    Where candidates overlap, the longest wins ("+1 905-674-3793" over "905-674-3793").
    """
    wanted = PII_KINDS if kinds is None else tuple(k for k in PII_KINDS if k in kinds)
    if kinds is not None and (unknown := set(kinds) - set(PII_KINDS)):
        raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {', '.join(PII_KINDS)}")
    candidates = [
        (start, end, rank, kind)
        for rank, kind in enumerate(wanted)
        for start, end in _FINDERS[kind](text)
        if end > start
    ]
    candidates.sort(key=lambda c: (c[0] - c[1], c[2], c[0]))
    chosen: list[Span] = []  # kept sorted by start, so each check looks at two neighbours
    starts: list[int] = []
    for start, end, _, kind in candidates:
        i = bisect.bisect_right(starts, start)
        if (i and chosen[i - 1].end > start) or (i < len(chosen) and chosen[i].start < end):
            continue
        starts.insert(i, start)
        chosen.insert(i, Span(start, end, kind))
    return chosen


def redact(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span replaced by ``<KIND>``; spans must not overlap."""
    parts: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < pos:
            raise ValueError(f"overlapping spans at {span.start}: redact the output of find_pii")
        parts += [text[pos : span.start], f"<{span.kind}>"]
        pos = span.end
    parts.append(text[pos:])
    return "".join(parts)
