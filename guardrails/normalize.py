"""Views of a text that undo the usual obfuscations, so detectors see what a model would read.

An attacker does not need the detector's words, only the model's understanding:
"1gn0r3 4ll pr3v10u5 1n5truct10n5", "Ignоrе" with Cyrillic "о" and "е", a zero-width
space between every letter, or the attack in base64 with "decode this" in front.
A language model reads all of these; a pattern or an n-gram model does not. So
every check runs on each view :func:`views` returns and reports the view that
fired (``normalized``, ``leetspeak``, ``base64``, ...), which also tells a
reviewer what the user tried.

Views, each only when it differs from the ones before it:

* ``original``: the text as given;
* ``normalized``: Unicode NFKC (full-width and compatibility forms), zero-width,
  bidi and other invisible format characters removed, Cyrillic and Greek
  look-alikes folded to Latin inside words that mix scripts (or consist only of
  look-alikes), and letters spelt out one by one ("i g n o r e") joined;
* ``leetspeak``: digits and symbols standing for letters inside words folded
  ("pr3v10u5" -> "previous"), on the normalised text;
* ``base64`` / ``hex``: every span that decodes to readable text, decoded;
* ``rot13``: each sentence that gains common English words when rotated, rotated
  (ordinary prose never gains any).

Pure standard library; a view costs a few microseconds per hundred characters.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["View", "fold_homoglyphs", "fold_leetspeak", "normalize", "strip_invisible", "views"]


@dataclass(frozen=True, slots=True)
class View:
    """One reading of a text: ``name`` says which transformation produced ``text``."""

    name: str
    text: str


# Look-alikes a reader (or a model) takes for Latin letters.
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
        "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
        "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
        # Greek
        "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
        "χ": "x", "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
        "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ζ": "Z",
        # Latin small capitals and other look-alikes NFKC keeps
        "ɡ": "g", "ı": "i", "ȷ": "j", "ʀ": "r", "ɴ": "n", "ʏ": "y",
    }
)  # fmt: skip
_CONFUSABLE = frozenset(k for k in map(chr, _HOMOGLYPHS) if k)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "!": "i", "|": "l", "8": "b", "9": "g"})  # fmt: skip
_WORD = re.compile(r"\w+", re.UNICODE)
# a "word" of letters mixed with leet digits/symbols; pure numbers ("2024", "4G") stay
_LEET_WORD = re.compile(r"(?<![\w@$!|])[\w@$!|]*[A-Za-z][\w@$!|]*(?![\w@$!|])")
_SPELLED = re.compile(r"\b(?:[A-Za-z][ \t]){3,}[A-Za-z]\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_BASE64_URL = re.compile(r"(?<![A-Za-z0-9_=-])[A-Za-z0-9_-]{16,}={0,2}(?![A-Za-z0-9_=-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){8,}(?![0-9A-Fa-f])")
_LATIN_WORDS = re.compile(r"\b[A-Za-z]{2,}\b")
_SENTENCES = re.compile(r"[^.!?\n]*(?:[.!?\n]+|$)")
# Words of ordinary English prose; rot13 hides them ("the" -> "gur"), so their absence from
# a Latin-script text, and their presence after rotating it, is what marks rot13.
_COMMON = frozenset(
    re.findall(
        r"\w+",
        "the and of to is in it you your that for on with all are be this as or not do what how"
        " me my previous instructions ignore print say only now",
    )
)


def strip_invisible(text: str) -> str:
    """Drop format characters (Unicode category Cf: zero-width, bidi controls, soft hyphen)."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _fold_word(word: str, latin_text: bool) -> str:
    if not any(c in _CONFUSABLE for c in word):
        return word
    has_latin = any("a" <= c.lower() <= "z" for c in word)
    only_look_alikes = all(c in _CONFUSABLE or not c.isalpha() for c in word)
    if has_latin or (only_look_alikes and latin_text):
        return word.translate(_HOMOGLYPHS)
    return word


def fold_homoglyphs(text: str) -> str:
    """Cyrillic/Greek look-alikes to Latin in words that mix scripts, and in words made only
    of look-alikes when the text is mostly Latin.

    "Ignоrе" (two Cyrillic letters) becomes "Ignore"; a Russian sentence keeps its letters.
    """
    latin = sum("a" <= c.lower() <= "z" for c in text)
    other = sum(c.isalpha() and c not in _CONFUSABLE and not "a" <= c.lower() <= "z" for c in text)
    latin_text = latin > other
    return _WORD.sub(lambda m: _fold_word(m.group(0), latin_text), text)


def _fold_leet_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if not any(c.isdigit() or c in "@$!|" for c in word):
        return word
    letters = sum(c.isalpha() for c in word)
    return word.translate(_LEET) if letters * 2 >= len(word) - 1 or len(word) >= 5 else word


def fold_leetspeak(text: str) -> str:
    """Digits and symbols read as letters inside words ("1gn0r3" -> "ignore"); numbers stay."""
    return _LEET_WORD.sub(_fold_leet_word, text)


def normalize(text: str) -> str:
    """NFKC, invisible characters removed, look-alikes folded, spelt-out letters joined."""
    folded = fold_homoglyphs(strip_invisible(unicodedata.normalize("NFKC", text)))
    return _SPELLED.sub(lambda m: m.group(0).replace(" ", "").replace("\t", ""), folded)


def _readable(data: bytes) -> str | None:
    """The bytes as text if they look like something written to be read (letters and spaces)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8:
        return None
    printable = sum(c.isprintable() or c in "\n\t" for c in text) / len(text)
    letters = sum(c.isalpha() or c.isspace() for c in text) / len(text)
    return text if printable > 0.95 and letters > 0.7 and " " in text.strip() else None


def _decoded(text: str) -> list[View]:
    found: list[View] = []
    seen: set[str] = set()
    for pattern, decode in (
        (_BASE64, base64.b64decode),
        (_BASE64_URL, base64.urlsafe_b64decode),
    ):
        for match in pattern.finditer(text):
            span = match.group(0)
            try:
                plain = _readable(decode(span + "=" * (-len(span) % 4)))
            except (binascii.Error, ValueError):
                continue
            if plain is not None and plain not in seen:
                seen.add(plain)
                found.append(View("base64", plain))
    for match in _HEX.finditer(text):
        digits = re.sub(r"[ :]", "", match.group(0))
        if len(digits) % 2:
            continue
        plain = _readable(bytes.fromhex(digits))
        if plain is not None and plain not in seen:
            seen.add(plain)
            found.append(View("hex", plain))
    return found


def _common_words(text: str) -> int:
    return sum(w.lower() in _COMMON for w in _LATIN_WORDS.findall(text))


def _rot13_sentences(text: str) -> str | None:
    """``text`` with each sentence that reads as more English once rotated, rotated; else None.

    Sentence by sentence, so one rot13 line inside an English document is found too.
    """
    changed = False
    parts: list[str] = []
    for sentence in _SENTENCES.findall(text):
        if len(_LATIN_WORDS.findall(sentence)) >= 3:
            rotated = codecs.encode(sentence, "rot13")
            if _common_words(rotated) > _common_words(sentence):
                parts.append(rotated)
                changed = True
                continue
        parts.append(sentence)
    return "".join(parts) if changed else None


def views(text: str) -> list[View]:
    """The original text first, then every view that differs from those before it."""
    result = [View("original", text)]
    seen = {text}

    def add(name: str, candidate: str) -> None:
        if candidate.strip() and candidate not in seen:
            seen.add(candidate)
            result.append(View(name, candidate))

    normal = normalize(text)
    add("normalized", normal)
    add("leetspeak", fold_leetspeak(normal))
    for view in _decoded(normal):
        add(view.name, normalize(view.text))
    rotated = _rot13_sentences(normal)
    if rotated is not None:
        add("rot13", rotated)
    return result
