"""The cue patterns of the prompt-injection detector, by family, and where they match.

Kept apart from the model (``injection.py``) because this table is what changes
most: a new jailbreak phrasing is a new pattern here, reviewed on its own. The
families are instruction overrides, announced new tasks, persona hijacks,
system-prompt extraction, output hijacks, delimiter and escape tricks, and
pressure; English and German, plus the commonest phrase in a few other languages.
"""

from __future__ import annotations

import re

__all__ = ["FAMILIES", "find_cues"]

_W = r"(?:[\w'’-]+\W+)"  # one filler word and the gap after it
_EN_OBJ = (
    r"(?:instructions?|prompts?|rules|directions|directives|orders|commands|guidelines"
    r"|tasks|assignments|programming|constraints|restrictions)"
)
_DE_OBJ = (
    r"(?:anweisungen|instruktionen|befehle|auftr[äa]ge|aufgaben|informationen|ausf[üu]hrungen"
    r"|regeln|vorgaben|richtlinien|dokumente|prompts?)"
)
_PRIOR = r"(?:previous|prior|preceding|above|earlier|former|foregoing|initial|original|provided)"
_DE_PRIOR = r"(?:vorherigen|bisherigen|vorangehenden|vorangegangenen|vorigen|obigen|alten)"
_START = r"(?:^|(?<=[.!?:\n]\s)|(?<=[.!?:\n]))\s*"  # start of the text or of a sentence

_PATTERNS: dict[str, tuple[str, ...]] = {
    "override": (
        rf"\b(?:ignor\w*|disregard\w*|forget\w*|skip|overlook|neglect|bypass|override|discard"
        rf"|set aside|remove)\W+{_W}{{0,4}}?{_EN_OBJ}\b",
        rf"\b(?:ignor\w*|disregard\w*|forget\w*)\W+(?:about\W+)?(?:all\W+)?(?:the\W+|your\W+)?"
        rf"(?:{_PRIOR}\W+)?(?:information|context|documents?|articles?|sources)\b",
        r"\b(?:ignor\w*|disregard\w*|forget\w*)\W+(?:about\W+)?(?:everything|anything|all)"
        r"(?=\s*[,.!:;–-]|\s+(?:above|before|prior|previous|earlier|so far|you know|we|i|said))",
        rf"\b(?:all|any)\W+(?:of\W+)?(?:the\W+|your\W+)?{_PRIOR}\W+(?:\w+\W+)?"
        rf"(?:{_EN_OBJ}|information)\b",
        r"\b(?:do not|don'?t|never)\W+(?:look|rely|use|answer|refer|follow|mention)\w*\W+"
        rf"{_W}{{0,5}}?(?:documents?|articles?|context|sources|{_EN_OBJ})\b",
        r"\bchange\W+your\W+(?:instructions|rules|prompt|programming)\b",
        rf"\b(?:vergiss|vergessen|ignorier\w*|missachte\w*|[üu]bergeh\w*|streich\w*)\W+"
        rf"{_W}{{0,4}}?{_DE_OBJ}\b",
        rf"\b(?:alle|s[äa]mtliche|die)\W+{_DE_PRIOR}\W+(?:\w+\W+)?{_DE_OBJ}\b",
        r"\bvergiss\W+alles\b",
        rf"\babweichend\W+(?:zu|von)\W+(?:den\W+)?{_DE_PRIOR}",
        r"\b(?:oubliez|oublie|ignorez)\W+(?:toutes?\W+)?(?:les\W+)?(?:instructions|consignes)",
        r"\b(?:ignora|olvida)\w*\W+(?:todas?\W+)?(?:las\W+)?instrucciones",
        r"\bzaboravi\W+(?:sve\W+)?(?:instrukcije|upute)",
        r"(?:забудь|игнориру)\w*\W+(?:все\W+)?(?:инструкци|указани)",
        # Italian, Dutch, Polish, Chinese, Japanese (see docs/guardrails.md, "Languages")
        r"\b(?:ignora\w*|dimentica\w*|trascura\w*|non\W+seguire)\W+(?:[\w'’]+\W+){0,3}?"
        r"(?:istruzioni|regole|indicazioni|linee\W+guida|prompt|tutto)\b",
        r"\b(?:negeer\w*|vergeet|houd\W+je\W+niet\W+(?:meer\W+)?aan)\W+(?:\w+\W+){0,3}?"
        r"(?:instructies|regels|richtlijnen|opdrachten|prompt|alles)\b",
        r"\b(?:zignoruj|ignoruj|zapomnij|nie\W+przestrzegaj)\w*\W+(?:\w+\W+){0,3}?"
        r"(?:instrukcj\w*|polece\w*|zasad\w*|regu\w*|wytyczn\w*|prompt\w*|wszystk\w*)",
        r"(?:忽略|无视|無視|忘记|忘掉|忘記|不要再?遵守|不要理会)[^。！？\n]{0,12}?"
        r"(?:指示|指令|规则|規則|准则|準則|提示|说明|要求|一切)",
        r"(?:指示|命令|ルール|ガイドライン|規則|プロンプト|こと)[^。！？\n]{0,12}?(?:無視|忘れ|従わ)",
        r"(?:ルール|規則|指示)に従わない",
    ),
    "new_task": (
        r"\b(?:now|here)\W+(?:come|comes|follow|follows)\W+(?:\w+\W+)?(?:tasks?|instructions)",
        r"\bnew\W+(?:tasks?|instructions)\W+(?:follow|are)\b",
        r"\b(?:focus|concentrate)\w*\W+on\W+(?:your|the|a)\W+new\W+(?:task|assignment)",
        r"\bthere\W+are\W+(?:\w+\W+){0,2}(?:more|new)\W+tasks\b",
        r"\b(?:that|this)\W+is\W+done\W+now\b",
        r"\bfrom\W+now\W+on\b",
        r"\b(?:start(?:ing)?|begin)\W+(?:over|anew|from scratch)\b",
        r"\b(?:nun|jetzt)\W+folgen\W+(?:\w+\W+)?(?:aufgaben|anweisungen)",
        r"\bneuen?\W+aufgabe\b",
        r"\bvon\W+vorne\b",
        r"\bab\W+(?:jetzt|sofort)\b",
        r"\b(?:d'|da\W+)ora\W+in\W+poi\b|\bvanaf\W+nu\b|\bod\W+teraz\b",
        r"从现在(?:开始|起)|從現在(?:開始|起)|(?:今から|これから|今後は)",
    ),
    "persona": (
        r"\byou\W+are\W+now\b",
        r"\bnow\W+you\W+are\b",
        r"\b(?:i want you to|you will|you must|please|now)\W+(?:act|behave|pretend|play)"
        r"\W+(?:as|like)",
        r"\bacting\W+as\b",
        rf"{_START}(?:act|behave)\W+(?:as|like)\b",
        r"\bpretend\W+(?:to\W+be|you\W*(?:are|'re)|that)\b",
        r"\brole[- ]?play(?!ed\b)",
        r"\b(?:stay|remain)\w*\W+in\W+(?:character|(?:your|their)\W+roles?)",
        r"\b(?:break\w*|fall\w*)\W+(?:out\W+of\W+)?(?:character|the\W+figure)",
        r"(?-i:\b(?:DAN|D\.A\.N)\b)",
        r"\bjailbr[eo]ak|\b(?:developer|god|evil|unrestricted|unfiltered)\W+mode\b",
        rf"{_START}you\W+are\W+(?!(?:right|correct|wrong|welcome|able|allowed|not)\b)",
        rf"{_START}be\W+(?:a|an|my)\W",
        r"\b(?:du\W+bist\W+(?:jetzt|nun|ab\W+jetzt)|(?:jetzt|nun)\W+bist\W+du)\b",
        r"\bstell\W+dir\W+vor\W+du\W+bist\b",
        r"\bdu\W+bist\W+(?:keine?|eine?)\b",
        r"\byou\W+are\W+no\W+longer\b",
        r"\b(?:theoretical|hypothetical|fictional|imaginary)\W+(?:world|scenario|story)\b",
        r"\b(?:bleib\w*)\W+(?:\w+\W+){0,3}in\W+(?:ihren|deiner|seiner)\W+roll",
        r"\baus\W+der\W+(?:figur|rolle)\b",
        r"\b(?:fai\W+finta\W+di|comportati\W+come|doe\W+alsof|gedraag\W+je\W+als|udawaj"
        r"|zachowuj\W+si[ęe]\W+jak)\b",
        r"\b(?:senza\W+(?:restrizioni|filtri|limiti)|zonder\W+(?:beperkingen|filters|regels)"
        r"|bez\W+(?:ogranicze\w*|filtr\w*|cenzury))\b",
        r"假装|扮演|没有(?:任何)?(?:限制|过滤)|沒有(?:任何)?(?:限制|過濾)|ふりを|として振る舞|"
        r"(?:制限|フィルター)のない",
    ),
    "extraction": (
        r"\b(?:reveal|print|show|display|output|repeat|tell|give|share|list|write)\w*\W+"
        rf"{_W}{{0,4}}?(?:(?:system|initial|original|hidden|secret|full)\W+prompt"
        r"|prompt[- ]?texts?|your\W+(?:instructions|rules|guidelines|prompt))\b",
        r"\bwhat\W+(?:were|are|was|is)\W+(?:you\W+told|your\W+(?:instructions|rules|"
        r"guidelines|(?:system\W+)?prompt))\b",
        r"\bcopy\W+of\W+the\W+(?:\w+\W+)?prompt\b",
        r"\b(?:zeig\w*|gib|nenne|verrate|vorzeigen)\W+(?:\w+\W+){0,4}?prompt",
        r"\bprompt-?texte?s?\b",
        r"\b(?:systeem\W?prompt|prompt\W+(?:di\W+sistema|del\W+sistema|systemow\w*)"
        r"|(?:mostra|rivela|dimmi|toon|laat\W+\w+\W+zien|poka[żz]|ujawnij)\w*\W+"
        r"(?:\w+\W+){0,3}?(?:prompt|istruzioni\W+iniziali))",
        r"系统提示|系統提示|システムプロンプト|(?:初始|原始)(?:指令|提示)",
        r"\b(?:information|informationen)\W+(?:in|im)\W+(?:the|dem)\W+prompt\b",
    ),
    "output": (
        r"\binstead\W+(?:\w+\W+){0,2}?(?:output|print|say|write|respond|reply|answer|return)\b",
        r"\bstattdessen\W+(?:\w+\W+){0,6}?aus\b",
        r"\b(?:just|only|simply)\W+(?:say|output|print|write|reply|respond)\b",
        r"\b(?:answer|reply|respond)\W+(?:only\W+)?with\s*[:\"'“„]",
        r"\bonly\W+(?:reply|respond|answer)\W+with\b",
        r"\bsay\W+(?:that|yes|no|the following)\b|\bsay\s*[:\"'“„]",
        r"\b(?:state|claim|include)\W+that\b",
        r"\btell\W+me\W+that\W+you\b",
        r"\b(?:output|print|say|write)\W+(?:\w+\W+){0,2}?following\b",
        r"\b(?:now|then)\W+(?:write|say|print|output|generate)\b",
        r"\b(?:jetzt|nun)\W+(?:schreib\w*|sag\w*|gib)\b",
        r"\b(?:schreib\w*|sag\w*)\W+(?:mir\W+)?nur\b",
        r"\b(?:dites|sagen\W+sie)\W+(?:\w+\W+){0,2}(?:suit|folgende)",
        r"\b(?:rispondi|antwoord|odpowiedz)\w*\W+(?:\w+\W+)?(?:solo|soltanto|alleen|tylko)\b",
        r"只(?:回答|回复|回覆|说|輸出|输出)|とだけ(?:答え|言っ|返|書)",
    ),
    "delimiter": (
        r"\\+\s?n",
        r"<\|\w+\|>|\[/?INST\]|<</?SYS>>|</?s>|```|###",
        r"(?:^|\n|[.?!:]\s+)(?:system|assistant|human|user|instruction|instructions|input"
        r"|output|eingabe|ausgabe)\s*:",
        r"\n\s*\w+\s*:\s*$",
        r"\$\w+\s*[:=]",
        r"\b(?:\w\s){5,}\w\b",
        r"</(?:system|assistant|user|admin|instructions?|sys)\s*>|<!--",
        r"^\s*(?:kontext|context|artikel|article|dokument|document)s?\b[^?\n]{1,100}?"
        r"\b(?:frage|question)\b",
    ),
    "pressure": (
        r"(?-i:\b(?:ACHTUNG|STOPP?|ATTENTION|IMPORTANT|WICHTIG|URGENT)\b)",
        rf"{_START}stopp?\s*[-,:!]",
        r"\bi\W+command\W+you\b|\bich\W+befehle\b",
        r"\bor\W+(?:you|i)\W+(?:will\W+)?die\b|\boder\W+du\W+stirbst\b",
        r"\b(?:hello|hallo|hey|hi)\W+(?:chat)?gpt\b",
        r"\bif\W+you\W+(?:don'?t|do\W+not|won'?t)\W+(?:answer|reply|respond|comply)\b",
    ),
}
FAMILIES: tuple[str, ...] = tuple(_PATTERNS)
# Case-insensitive, except inside (?-i:...): "DAN" and shouted words are cues, "Dan" is a name.
_COMPILED: dict[str, tuple[re.Pattern[str], ...]] = {
    family: tuple(re.compile(p, re.IGNORECASE) for p in patterns)
    for family, patterns in _PATTERNS.items()
}


def find_cues(text: str) -> dict[str, list[tuple[int, int]]]:
    """Every cue match as (start, end), by family (families with no match are absent)."""
    found: dict[str, list[tuple[int, int]]] = {}
    for family, patterns in _COMPILED.items():
        for pattern in patterns:
            for match in pattern.finditer(text):
                if match.end() > match.start():
                    found.setdefault(family, []).append(match.span())
    return found
