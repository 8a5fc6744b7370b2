"""fonts: the font files grader renders with, and which characters of a text no font here can draw.

The PDF, the plots and the slide measurements use fonts that come with grader's own dependencies, not with the
machine: DejaVu (shipped inside matplotlib) for Latin, Greek, Cyrillic and symbols, NanumGothic (OFL 1.1, shipped
in the koreanize-matplotlib wheel, which grader never imports) for Hangul. A bare machine without fonts-dejavu or
fonts-noto-cjk then renders the same report, with text a TA can search, as a fully equipped one. Characters that
none of these nor any installed font covers (an emoji, Thai, Devanagari) are reported once per run with the
Debian package that would draw them, never left as silent empty boxes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Face:
    family: str
    path: Path
    bold: bool = False
    italic: bool = False


def _mpl(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path(), "fonts", "ttf", name)


def _nanum(name: str) -> Path | None:
    from importlib import metadata

    try:  # located through the installed distribution's files: importing the package would restyle matplotlib
        wheel = metadata.distribution("koreanize-matplotlib")
        path = Path(str(wheel.locate_file(f"koreanize_matplotlib/fonts/{name}")))
    except metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


@cache
def faces() -> tuple[Face, ...]:
    """Every font file grader ships, as CSS font faces; Hangul's only where its package is installed."""
    dejavu = [
        Face("DejaVu Sans", _mpl("DejaVuSans.ttf")),
        Face("DejaVu Sans", _mpl("DejaVuSans-Bold.ttf"), bold=True),
        Face("DejaVu Sans", _mpl("DejaVuSans-Oblique.ttf"), italic=True),
        Face("DejaVu Sans", _mpl("DejaVuSans-BoldOblique.ttf"), bold=True, italic=True),
        Face("DejaVu Sans Mono", _mpl("DejaVuSansMono.ttf")),
        Face("DejaVu Sans Mono", _mpl("DejaVuSansMono-Bold.ttf"), bold=True),
    ]
    nanum = [(_nanum("NanumGothic.ttf"), False), (_nanum("NanumGothicBold.ttf"), True)]
    hangul = [Face("NanumGothic", path, bold=bold) for path, bold in nanum if path]
    return tuple(face for face in dejavu + hangul if face.path.is_file())


def face_css() -> str:
    """@font-face rules for WeasyPrint: the families the stylesheets name resolve to grader's files first."""
    rules = []
    for face in faces():
        rules.append(
            f'@font-face {{ font-family: "{face.family}"; src: url("{face.path.resolve().as_uri()}"); '
            f"font-weight: {'bold' if face.bold else 'normal'}; font-style: {'italic' if face.italic else 'normal'}; }}"
        )
    return "\n".join(rules)


def register_for_plots() -> None:
    """Make matplotlib know the shipped Hangul font (DejaVu it has already)."""
    from matplotlib import font_manager

    known = {Path(font.fname).resolve() for font in font_manager.fontManager.ttflist}
    for face in faces():
        if face.path.resolve() not in known:
            font_manager.fontManager.addfont(str(face.path))


@cache
def _cmap(path: Path, number: int = 0) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=number, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except Exception:  # a broken system font must not stop a report; it simply covers nothing
        return frozenset()


@cache
def _shipped() -> frozenset[int]:
    return frozenset().union(*(_cmap(face.path) for face in faces()))


@cache
def _system() -> frozenset[int]:
    """Code points any installed font covers, read only when the shipped fonts miss something (rare, ~1 s)."""
    from fontTools.ttLib import TTCollection
    from matplotlib import font_manager

    covered: set[int] = set()
    for name in font_manager.findSystemFonts():
        path = Path(name)
        if path.suffix.lower() in (".ttc", ".otc"):
            try:
                count = len(TTCollection(path, lazy=True).fonts)
            except Exception:
                continue
            for number in range(count):
                covered |= _cmap(path, number)
        else:
            covered |= _cmap(path)
    return frozenset(covered)


def _drawn(char: str) -> bool:
    """Whitespace and control or format characters need no glyph; a private-use (symbol-font) character does."""
    kind = unicodedata.category(char)
    return not char.isspace() and (kind[0] != "C" or kind == "Co")


def missing(text: str) -> str:
    """The characters of `text`, in order of first appearance, that no shipped or installed font covers."""
    shipped = _shipped()
    candidates = dict.fromkeys(c for c in set(text) if ord(c) not in shipped and _drawn(c))
    if not candidates:
        return ""
    first = {c: text.index(c) for c in candidates}
    return "".join(sorted((c for c in candidates if ord(c) not in _system()), key=first.__getitem__))


_JOINERS = "\u200d\ufe0e\ufe0f"  # zero-width joiner and variation selectors inside an emoji sequence


def printable(text: str) -> tuple[str, str]:
    """`text` with every character no font here draws replaced, and those characters.

    A character drawn as a missing-glyph box makes WeasyPrint write the whole font with a custom encoding, and
    then pypdf reads the page NUL-padded and pdfplumber reads nothing. So an emoji or another symbol is written
    as its name ("[test tube]"), a run of letters of a script no font covers as "[5 Thai characters]", and a
    symbol-font character of the private use area that grader.outputs.text.symbols does not know is left out.
    """
    gone = missing(text)
    if not gone:
        return text, ""
    run = re.compile(f"[{re.escape(gone)}][{re.escape(gone)}{_JOINERS}]*")
    return run.sub(lambda m: _named(m.group(0), gone), text), gone


def _named(run: str, gone: str) -> str:
    out, letters = [], []
    for char in run:
        kind = unicodedata.category(char)
        if char in _JOINERS or kind in ("Co", "Sk", "Mn") or char not in gone:
            continue  # private use, emoji modifiers, combining marks: nothing to say on their own
        if kind.startswith("S"):
            out.append(f"[{unicodedata.name(char, 'symbol').lower()}]")
        else:
            letters.append(char)
    if letters:
        script = unicodedata.name(letters[0], "UNKNOWN").split(" ")[0].title()
        out.append(f"[{len(letters)} {script} character{'s' if len(letters) > 1 else ''}]")
    return " ".join(out)


_CJK = ((0x2E80, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF))  # CJK, Hangul, compatibility
# Debian packages by script, checked in order: the first whose test matches a missing character is named.
_PACKAGES = (
    # monochrome: WeasyPrint drops the bitmaps of colour emoji fonts (fonts-noto-color-emoji draws nothing there)
    ("fonts-symbola", lambda c: unicodedata.category(c) == "So" and ord(c) >= 0x1F000),
    ("fonts-noto-cjk", lambda c: any(low <= ord(c) <= high for low, high in _CJK)),
)


def package_for(chars: str) -> list[str]:
    """The Debian font packages that cover `chars` (fonts-noto-core for every other script)."""
    names = []
    for char in chars:
        name = next((package for package, test in _PACKAGES if test(char)), "fonts-noto-core")
        if name not in names:
            names.append(name)
    return names


def note(missing_by_group: dict[str, str]) -> str | None:
    """One line for the whole run: which groups' reports have undrawable characters and what to install."""
    affected = {group: chars for group, chars in missing_by_group.items() if chars}
    if not affected:
        return None
    chars = "".join(dict.fromkeys("".join(affected.values())))
    packages = " ".join(package_for(chars))
    shown = ", ".join(sorted(affected)[:10]) + (f" and {len(affected) - 10} more" if len(affected) > 10 else "")
    return (
        f"no font on this machine draws {len(chars)} character(s) of student text ({chars[:12]!r}) in the reports of "
        f"{shown}; they are written as their names ([test tube], [5 Thai characters]) and symbol-font characters "
        f"are left out; to draw them, `apt-get install {packages}` and re-run with --force"
    )
