"""parta: Part A read as a careful TA reads it: the structure first, then the words.

Structure (decides whenever it is there):
  - a table whose header cells are the assignment's questions ("역할 (What it controls)", "Increase / decrease",
    "Typical range", "Why for our data"): a row belongs to the parameter its first cell names, and the cell under a
    question's header answers that question when it says something ("-", "TBD", "중요함", an empty cell say nothing);
  - a labelled line ("What:", "Effect:", "Range:", "Why:", "역할:", "권장 범위:") answers its label's question;
  - a slide or section titled with a parameter belongs to it; a line that begins with a parameter's name
    ("학습률: ...") belongs to that parameter until the next such line.
Words (for what is left: a value + explanation table, bullets, prose): each sentence of the parameter's own
passage is read with one documented rule per question, in English and Korean (RULES below). Evidence comes only
from the parameter's own row, slide or paragraph: never from code, the reflections, the discussion or the test
Q&A, nor from another parameter's sentence.

Measured on the labelled corpus (tests/reading, `nox -s reading`); the figures are in the README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from grader.records import QUESTIONS, DocTable, Document, ParamAnswer

EXCERPT = 600

# Headers of a question's column, and labels of a question's line ("What:", "역할:").
HEADER = {
    "what": r"what\b|controls?|role|meaning|definition|역할|의미|정의|무엇",
    "effect": r"increase|decrease|raise|lower|effect|impact|trade.?off|↑|↓|"
    r"증가|감소|높이|낮추|키우|줄이|늘리|변화|영향",
    "range": r"range|typical|default|usual|recommend|common|권장|범위|기본|보통|일반",
    "why": r"why|our data|for us|matters?|relevan|reason|이유|왜|우리|중요",
}
HEADER_RE = {q: re.compile(p, re.IGNORECASE) for q, p in HEADER.items()}
PARAM_HEADER = re.compile(r"param|name|hyper|setting|항목|파라미터|하이퍼|이름|변수", re.IGNORECASE)
VALUE_HEADER = re.compile(r"^\s*(value|our value|ours|used|setting|값|설정값|사용값)\s*$", re.IGNORECASE)
LABEL = re.compile(
    r"^\s*[-*•▪]?\s*(?P<label>what(?: it controls)?|controls|effect|increase\s*/\s*decrease|↑\s*/\s*↓|range|"
    r"typical(?: range)?|default|why(?: it matters)?|역할|의미|효과|영향|증감|범위|권장\s*범위|기본값|이유|왜)"
    r"\s*[:：]\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
# A cell or a labelled line that says nothing
VACUOUS = re.compile(
    r"^\s*([-–—.·/?]*|n/?a|tbd|todo|none|없음|해당\s*없음|important|very important|중요함?|중요하다|매우\s*중요|"
    r"상황에\s*따라\s*다름|depends|see above|위와\s*같음|same|잘\s*모르겠\w*|모름|don'?t know|not sure|unknown|"
    r"(very\s+)?important( for (the )?(fine-?tuning|training|the model|the task|us))?)\s*[.!]?\s*$",
    re.IGNORECASE,
)
# Sections whose words never answer Part A
ELSEWHERE = re.compile(
    r"reflect|lesson|회고|소감|느낀\s*점|discussion|토의|고찰|test|q\s*&\s*a|테스트|result|결과|smoke|prompt|프롬프트|"
    r"code|코드|training setup|config",
    re.IGNORECASE,
)

# Word rules for free text, one per question, read sentence by sentence.
RULES = {
    "what": re.compile(
        r"\b(controls?|determines?|decides?|sets?|defines?|specif(y|ies)|adds? up|sums?|summed|"
        r"how (many|much|often|big|large|fast|far)|the (size|number|share|scale|rank|amount|format|dimension|shape|"
        r"fraction|capacity|probability|step size)s?|(number|fraction|share|size|shape|rank|scal\w*|amount|"
        r"probability|dimension|interval|ratio) (of|factor)|limits?|cuts?|caps?|applies|format|whether|"
        r"upper limit|maximum|scales?|randomly|ramp\w*|accumulat\w+|passes over|rank of|step size|capacity|"
        r"stores?|log(s|ged)? the|dtype|precision|float|zeroes|per (gpu|step|device|sample|update|forward)|"
        r"how the|(update|adapter|low-rank) matri\w*|lora (to|on|for)|use[sd]? (\w+ )?for)\b|"
        r"\w\s*=\s*\w+\s*[×x*/]\s*\w|"
        r"조절|결정|정한다|정하는|정함|의미|정의|나타낸|제어|역할|크기|개수|횟수|비율|차원|스케일|여부|형식|간격|"
        r"방식|얼마나|몇 번|몇 스텝|최대 토큰|샘플 수|수이다|확률|것이다|0으로 만|천천히|서서히|길이|연산|누적|"
        r"(adapter|lora|matrix) rank|during training|while training|학습 중",
        re.IGNORECASE,
    ),
    "effect": re.compile(
        r"\b(increas\w*|decreas\w*|higher|lower|larger|smaller|bigger|more|fewer|less|rais\w*|reduc\w*|"
        r"too (high|low|large|small|many|few|short|long|big)|add(s|ing)?(?! up)|saves?|saving|"
        r"enabl\w+|disabl\w+|turn\w* (on|off)|"
        r"halves|doubles|triples|diverg\w*|spikes?|unstable|overflow|truncat\w*|"
        r"memor(y|ise|ize)|stronger|weaker|smoother|faster|slower|out of memory|oom|wastes?|"
        r"decays? (smoothly|linearly|faster|slower|to zero|at a))\b|[↑↓]|"
        r"높이|낮추|높으면|낮으면|크면|작으면|늘리|줄이|증가(?!시킬지|할지)|감소(?!시킬지|할지)|많으면|적으면|커지|"
        r"작아지|켜면|끄면|발산|키우면|키울수록|높을수록|낮을수록|클수록|작을수록|많을수록|적을수록|늘어|줄어|느려|"
        r"크게 하|작게 하|절약|"
        r"빨라|안정|절반|촘촘",
        re.IGNORECASE,
    ),
    "range": re.compile(
        r"\b(default|typical\w*|usual\w*|(?<!exponent )range(?! of)|recommend\w*|common\w*|standard|between|course|"
        r"rule of thumb|use \w+ (on|if)|on (older|newer|recent|ampere\S*|\w+ and newer) (gpus?|cards?)|"
        r"options?|choices?|often|mostly|generally)\b|"
        r"기본값|기본|보통|일반적|범위|권장|많이 쓴|주로|사이",
        re.IGNORECASE,
    ),
    "why": re.compile(
        r"\b(geolog\w*|hyperspectral|mineral\w*|spectr\w*|domain|our (?!value\b)\w+|ours|tiny|rocks?|"
        r"small (data|dataset|set)|few (samples|examples|steps)|"
        r"(only|just|with|our|\() ?\d+ (steps?|samples?|updates?)|"
        r"we (compared|tried|tested|measured|found|saw)|remote sensing|paper\w*|chunks?|contexts?|for us|"
        r"(our|one|single|1|a single|the lab) gpu|t4|a100|rtx ?\d+|colab|\d+ ?gb|empty)\b|"
        r"지질|초분광|광물|분광|도메인|우리(?!는)|데이터셋|소규모|논문|샘플이|\d+개|스텝이|단일 GPU|"
        r"작아서|적어서|길어서",
        re.IGNORECASE,
    ),
}
VALUE = re.compile(
    r"\d|(?<![a-z])(true|false|cosine|linear|constant|bf16|fp16|fp32|on|off|twice|double)(?![a-z])|두\s*배|세\s*배",
    re.IGNORECASE,
)
RANGE_WRITTEN = re.compile(
    r"\d[\d.]*(?:e[+-]?\d+)?\s*(?:-|–|~|to|～|…)\s*\d[\d.]*(?:e[+-]?\d+)?|\d\s*[rR]?\s*[–-]\s*\d?[rR]|\br\s*[–-]\s*2r\b",
    re.IGNORECASE,
)
SENTENCE = re.compile(r"(?<=[.!?;。])\s+|\s*;\s*|(?<=다\.)\s*")


@dataclass
class Passage:
    """One parameter's own text in one place: its table row, its slide or section, its sentence(s)."""

    name: str
    where: str
    text: str
    cells: dict[str, str] = field(default_factory=dict)  # question -> the text under its header or label
    free: list[str] = field(default_factory=list)  # sentences read by the word rules
    structured: bool = False  # a question table or labelled lines
    anchored: bool = True  # a row, a titled slide or section, a line or sentence that begins with the name
    value: str = ""  # the group's value, in a table's value column


def alias_pattern(aliases: list[str]) -> re.Pattern[str]:
    """A parameter's names: English ones as whole words; Korean ones also before a particle (학습률은, 랭크를)."""
    parts = []
    for alias in aliases:
        # words joined by any of space, underscore or hyphen (or nothing): "grad accum", "lora_r", "그래디언트 누적"
        escaped = r"[\s_-]*".join(re.escape(word) for word in re.split(r"[\s_]+", alias))
        korean = re.search("[\uac00-\ud7a3]", alias) is not None
        parts.append(rf"(?<![\w]){escaped}" + ("" if korean else r"(?![\w])"))
    return re.compile("|".join(parts), re.IGNORECASE)


PART_OF = re.compile(r"(effective|eff\.|실질|실제)\s*$", re.IGNORECASE)  # "effective batch" is accumulation's


def _named(text: str, patterns: dict[str, re.Pattern[str]]) -> list[str]:
    """The parameters a text names, in the order it names them ("effective batch" names no batch size)."""
    found = [
        (m.start(), name)
        for name, p in patterns.items()
        for m in [next((m for m in p.finditer(text) if not PART_OF.search(text[: m.start()])), None)]
        if m is not None
    ]
    return [name for _, name in sorted(found)]


# Words that, with the parameter's own name, make a cell that only restates it ("It controls the epochs.", "More
# epochs = more training.")
RESTATING = {
    "it",
    "its",
    "the",
    "a",
    "an",
    "is",
    "are",
    "this",
    "that",
    "of",
    "to",
    "for",
    "and",
    "controls",
    "control",
    "sets",
    "set",
    "determines",
    "decides",
    "defines",
    "changes",
    "more",
    "less",
    "higher",
    "lower",
    "training",
    "train",
    "fine",
    "tuning",
    "fine-tuning",
    "model",
    "parameter",
    "value",
}
OWN_VALUE = re.compile(r"^\W*(we (used|use|chose|kept|set)|ours?\b|우리는)", re.IGNORECASE)


def _says(cell: str, question: str, pattern: re.Pattern[str]) -> bool:
    """A structured cell answers its question when it says something beyond the parameter's name; a range needs a
    value or a written range, and the group's own value alone ("we used 1") is not one."""
    text = cell.strip()
    if not text or VACUOUS.match(text):
        return False
    if question == "range":
        if OWN_VALUE.match(text) and not RANGE_WRITTEN.search(text) and not RULES["range"].search(text):
            return False
        return VALUE.search(text) is not None or RULES["range"].search(text) is not None
    content = [w for w in re.findall(r"\w+", pattern.sub(" ", text).lower()) if w not in RESTATING]
    return bool(content) or re.search(r"[↑↓×½]", text) is not None


def _label(label: str) -> str | None:
    label = label.lower()
    for question in ("range", "why", "effect", "what"):  # "typical range" is a range before it is a "what"
        if HEADER_RE[question].search(label) or (question == "effect" and re.search(r"효과|증감", label)):
            return question
    return None


def _column_roles(header: list[str]) -> list[str]:
    """Each column's role: 'param', a question, 'value' (the group's own value) or 'text' (read by words)."""
    roles = []
    for i, cell in enumerate(header):
        text = cell.strip()
        if i == 0 or (PARAM_HEADER.search(text) and "param" not in roles):
            roles.append("param" if i == 0 or "param" not in roles else "text")
            continue
        if VALUE_HEADER.match(text):
            roles.append("value")
            continue
        hits = [q for q in QUESTIONS if HEADER_RE[q].search(text)]
        roles.append(hits[0] if len(hits) == 1 else _label(text) or "text" if hits else "text")
    return roles


def _table_passages(table: DocTable, patterns: dict[str, re.Pattern[str]], file: str) -> list[Passage]:
    if len(table.rows) < 2:
        return []
    roles = _column_roles(table.rows[0])
    owned = [(row, _named(row[0], patterns)) for row in table.rows[1:] if row]
    if sum(bool(names) for _, names in owned) < 1 or len(table.rows[0][0]) > 40:
        return []
    passages = []
    for row, names in owned:
        if not names:
            continue
        cells: dict[str, str] = {}
        free: list[str] = []
        value = ""
        for role, cell in zip(roles, row, strict=False):
            if role in QUESTIONS:
                cells[role] = cell
            elif role == "text":
                free += _sentences(cell)
            elif role == "value":
                value = cell
        passages.append(
            Passage(
                name=names[0],
                where=f"{file}, {table.where}",
                text=" | ".join(row),
                cells=cells,
                free=free,
                structured=any(role in QUESTIONS for role in roles),
                value=value,
            )
        )
    return passages


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if s and s.strip()]


def _block_passages(document: Document, patterns: dict[str, re.Pattern[str]]) -> list[Passage]:
    """Passages from titles, labelled lines, bullets and prose, section by section (a slide, a page's section)."""
    passages: list[Passage] = []
    owner: list[str] = []  # the parameter(s) the current title names
    skipping = False  # under a reflections / discussion / test / code title
    place = ""
    current: Passage | None = None

    def start(name: str, where: str, anchored: bool = True) -> Passage:
        passage = Passage(name=name, where=f"{document.file}, {where}", text="", anchored=anchored)
        passages.append(passage)
        return passage

    for block in document.blocks:
        page = block.where.removesuffix(" notes")
        new_place = page if document.format in ("pptx", "pdf") else place
        if new_place != place:
            current, owner, skipping = None, [], False
        place = new_place
        if block.kind in ("table", "code", "output"):
            continue
        if block.kind == "title" or _looks_like_title(block.text, document.format):
            owner = _named(block.text, patterns)
            skipping = bool(ELSEWHERE.search(block.text)) and not owner
            current = start(owner[0], block.where) if len(owner) == 1 else None
            if current is not None:
                current.text = block.text  # the title, for the excerpt; its words answer nothing by themselves
            continue
        if skipping:
            continue
        for line in _lines(block.text):
            label = LABEL.match(line)
            if label and (question := _label(label.group("label"))):
                current = current or (start(owner[0], block.where) if owner else None)
                if current is not None:
                    current.text = f"{current.text} {line}".strip()
                    current.cells[question] = label.group("rest")
                    current.structured = True
                continue
            said = _named(line, patterns)
            head = _after_name(line, patterns[said[0]]) if said else None
            if head is not None:  # "학습률: 한 스텝에서 ..." belongs to its name, whole
                current = start(said[0], block.where)
                current.text, current.free = line, _sentences(head)
                continue
            for piece in _pieces(line, patterns):
                names = _named(piece, patterns)
                first = names[0] if names else ""
                begins = bool(first) and _starts_with(piece, patterns[first])
                if begins and (current is None or current.name != first):  # a sentence about another parameter
                    current = start(first, block.where)
                elif first and not owner and (current is None or current.name != first):  # prose: it names another
                    current = start(first, block.where, anchored=False)
                elif first in owner and len(owner) > 1 and (current is None or current.name != first):
                    current = start(first, block.where)  # a title naming several: the sentence names which
                elif current is None and owner:
                    current = start(owner[0], block.where)
                if current is None:
                    continue
                current.text = f"{current.text} {piece}".strip()
                current.free.append(piece)
        if not owner and document.format != "pptx":
            current = None  # in prose a paragraph that names no parameter does not continue the last one's
    return passages


def _pieces(line: str, patterns: dict[str, re.Pattern[str]]) -> list[str]:
    """A line cut into sentences, and a sentence cut where a clause begins with another parameter's name
    ("lora_r is the rank ... and lora_alpha scales ...")."""
    pieces = []
    for sentence in _sentences(line):
        cuts = sorted(
            m.start(1)
            for p in patterns.values()
            for m in re.finditer(
                rf"(?:,|\band\b|\bwhile\b|\bwhereas\b|그리고)\s+((?:the\s+)?(?:{p.pattern}))", sentence, re.IGNORECASE
            )
        )
        last = 0
        for cut in cuts:
            if sentence[last:cut].strip():
                pieces.append(sentence[last:cut].strip())
                last = cut
        pieces.append(sentence[last:].strip())
    return [p for p in pieces if p]


def _looks_like_title(text: str, fmt: str) -> bool:
    """A PDF heading read as text: a short numbered line ("5. Test questions", "Part B — 테스트 결과")."""
    return fmt == "pdf" and len(text) < 60 and re.match(r"^(\d+\.|part\s+[a-d]\b)", text, re.IGNORECASE) is not None


ASSIGNMENT = re.compile(
    r"what does this parameter control|what happens if we increase or decrease it|what is the typical good range|"
    r"why is this important for our fine-tuning task|each group must analy[sz]e",
    re.IGNORECASE,
)


def _lines(text: str) -> list[str]:
    """A block's lines, without the assignment's own questions pasted back (they answer nothing)."""
    return [line for line in (part.strip() for part in text.split("\n")) if line and not ASSIGNMENT.search(line)]


def _starts_with(sentence: str, pattern: re.Pattern[str]) -> bool:
    match = pattern.search(sentence)
    return match is not None and match.start() <= 4


def _after_name(sentence: str, pattern: re.Pattern[str]) -> str | None:
    """'학습률: 한 스텝에서 ...' -> '한 스텝에서 ...' (the text after a leading name and its colon)."""
    match = pattern.search(sentence)
    if match is None or match.start() > 4:
        return None
    rest = sentence[match.end() :]
    colon = re.match(r"\s*(\([^)]*\))?\s*(?:[:：—–=]|\s-\s)\s*", rest)
    return rest[colon.end() :] if colon else None


def _decide(passages: list[Passage], pattern: re.Pattern[str]) -> tuple[dict[str, bool], dict[str, str], list[str]]:
    """Each question answered or not, the words that decided it, and why the reading is unsure."""
    answered = dict.fromkeys(QUESTIONS, False)
    evidence: dict[str, str] = {}
    unsure: list[str] = []
    for question in QUESTIONS:
        for passage in passages:
            if question in passage.cells:  # the structure decides: a cell under the question, a labelled line
                if _says(passage.cells[question], question, pattern):
                    answered[question] = True
                    evidence[question] = passage.cells[question][:120]
                    break
                continue
            words = _by_words(passage.free, question, pattern)
            if not words and question == "range" and passage.value.strip():  # "Course default." beside "True"
                words = next((m.group(0) for f in passage.free if (m := RULES["range"].search(f))), "")
            if words:
                answered[question], evidence[question] = True, words
                break
    text = " ".join(p.text for p in passages)
    if passages and not any(p.anchored for p in passages) and sum(answered.values()):
        unsure.append("found only where its name is mentioned in passing (no title, row, label or sentence about it)")
    n_words = len(re.findall(r"\w+", text))
    if passages and n_words < 8:
        unsure.append(f"a very short passage ({n_words} words)")
    empty = [q for q in QUESTIONS if any(q in p.cells for p in passages) and not answered[q]]
    hinted = [q for q in empty if _by_words([s for p in passages for s in p.free or _sentences(p.text)], q, pattern)]
    if hinted:
        unsure.append(f"its {', '.join(hinted)} cell says nothing, though other words of the row might")
    return answered, evidence, unsure


DEFINES = re.compile(r"^\W*(?:the\s+)?(?:is|are|means|refers to|is defined as)\s", re.IGNORECASE)


def _by_words(sentences: list[str], question: str, pattern: re.Pattern[str]) -> str:
    """The words of the first sentence that answer the question by its rule, or ''."""
    for sentence in sentences:
        named = pattern.search(sentence)
        if question == "what" and named and named.start() <= 4 and DEFINES.match(sentence[named.end() :]):
            return sentence[named.end() :].split()[0] + " " + sentence[named.end() :].split()[1]  # "is the", "means"
        rest = pattern.sub(lambda m: " " if re.search(r"[\s_]", m.group(0).strip()) else m.group(0), sentence)
        if question == "range":
            written = max(RANGE_WRITTEN.findall(rest), key=len, default="")  # "1e-4 to 3e-4" over "7-8"(B)
            cue = RULES["range"].search(rest)
            if written:
                return str(written)
            if cue and VALUE.search(rest):
                return cue.group(0)
            continue
        match = RULES[question].search(rest)
        if match:
            return match.group(0)
    return ""


def part_a(document: Document, entries: list[dict[str, Any]]) -> list[ParamAnswer]:
    """Part A per parameter: where the group discusses it, which of the four questions it answers, the deciding
    words, and why the reading is unsure where it is."""
    patterns = {entry["name"]: alias_pattern(entry["aliases"]) for entry in entries}
    passages = [p for t in document.tables for p in _table_passages(t, patterns, document.file)]
    passages += _block_passages(document, patterns)
    found = []
    for entry in entries:
        name = entry["name"]
        own = [p for p in passages if p.name == name]
        if not own:
            found.append(ParamAnswer(name=name, answered=dict.fromkeys(QUESTIONS, False)))
            continue
        answered, evidence, unsure = _decide(own, patterns[name])
        text = " ".join(p.text for p in own)
        found.append(
            ParamAnswer(
                name=name,
                where=own[0].where,
                excerpt=text[:EXCERPT] + ("…" if len(text) > EXCERPT else ""),
                answered=answered,
                evidence=evidence,
                unsure="; ".join(unsure),
            )
        )
    return _templated(found, patterns)


TEMPLATE_COPIES = 4  # this many parameters with the same words (names and numbers aside) are a template, not answers


def _templated(found: list[ParamAnswer], patterns: dict[str, re.Pattern[str]]) -> list[ParamAnswer]:
    """The same passage pasted for parameter after parameter with only the name (and a number) changed answers none
    of them: each such cell is kept, shown and marked, and credited nothing."""
    masked = {
        a.name: " ".join(re.sub(r"\d[\d.,eE+-]*", "#", patterns[a.name].sub("NAME", a.excerpt)).lower().split())
        for a in found
        if a.where
    }
    copies: dict[str, int] = {}
    for text in masked.values():
        copies[text] = copies.get(text, 0) + 1
    out = []
    for a in found:
        text = masked.get(a.name, "")
        if copies.get(text, 0) >= TEMPLATE_COPIES and len(text.split()) >= 4 and any(a.answered.values()):
            a = a.model_copy(
                update={
                    "answered": dict.fromkeys(QUESTIONS, False),
                    "evidence": {},
                    "unsure": f"the same words as {copies[text] - 1} other parameters with only the name changed: "
                    "template text, not an answer",
                }
            )
        out.append(a)
    return out
