"""A small corpus of PDFs as groups really produce them, each with the text it must read as.

Built with the tools at hand: WeasyPrint (Latin; Hangul and Wingdings/emoji that its fonts lack, which switch it to
a custom encoding), matplotlib's PDF backend (Type 3 and Type 42 fonts), LibreOffice's export of a Korean deck
(when LibreOffice is installed), and a scanned page (an image, no text layer). tools/pdf_engines.py measures each
engine on it; tests/test_deliverable.py reads it with grader's reader.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

EN = (
    "The learning rate controls the step size of each update; a typical range is 1e-4 to 3e-4 for LoRA on our "
    "geology data."
)
KO = "학습률은 각 업데이트의 보폭을 정한다. 우리 지질 데이터에서는 작은 값이 안정적이다."
TABLE = (
    "<table><tr><th>Parameter</th><th>What it controls</th></tr>"
    "<tr><td>lora_r</td><td>rank of the adapter matrices</td></tr></table>"
)


def _weasy(path: Path, body: str) -> None:
    from weasyprint import HTML

    css = "body { font-family: serif } td, th { border: 1px solid black; padding: 4px }"
    HTML(string=f"<html><head><style>{css}</style></head><body>{body}</body></html>").write_pdf(path)


def weasy_latin(path: Path) -> str:
    _weasy(path, f"<h1>Part A</h1><p>{EN}</p>{TABLE}")
    return f"{EN} lora_r rank of the adapter matrices"


def weasy_custom_encoding(path: Path) -> str:
    """Wingdings arrows (private use area) and an emoji no font here draws: WeasyPrint writes the whole font with
    its own CMap, which pdfplumber reads as nothing and pypdf as NUL-padded text."""
    _weasy(path, f"<h1>Part A</h1><ul><li>\uf0e0 {EN}</li><li>\U0001f9ea {KO}</li></ul>{TABLE}")
    return f"{EN} {KO} lora_r rank of the adapter matrices"


def matplotlib_type3(path: Path, fonttype: int = 3) -> str:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"pdf.fonttype": fonttype}):
        fig = Figure(figsize=(8.5, 4))
        cut = EN.index(" a typical")
        fig.text(0.05, 0.8, EN[:cut])
        fig.text(0.05, 0.6, EN[cut + 1 :])
        fig.savefig(path)
    return EN


def matplotlib_type42(path: Path) -> str:
    return matplotlib_type3(path, 42)


def scanned(path: Path) -> str:
    """A page that is only an image of text (a scan, a screenshot exported as PDF): there is nothing to read."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (850, 1100), "white")
    ImageDraw.Draw(image).text((50, 50), EN[:50], fill="black")
    image.save(path, resolution=100)
    return ""


def libreoffice_deck(path: Path) -> str:
    """A Korean deck exported by LibreOffice Impress (skipped where it is not installed)."""
    from pptx import Presentation

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise FileNotFoundError("LibreOffice is not installed (Debian: libreoffice-impress-nogui)")
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "learning_rate"
    slide.placeholders[1].text = f"{EN}\n{KO}"
    deck = path.with_suffix(".pptx")
    prs.save(str(deck))
    profile = (path.parent / "lo-profile").resolve().as_uri()
    command = [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf"]
    subprocess.run([*command, "--outdir", str(path.parent), str(deck)], check=True, capture_output=True, timeout=180)
    return f"learning_rate {EN} {KO}"


CORPUS: dict[str, Callable[[Path], str]] = {
    "weasyprint-latin": weasy_latin,
    "weasyprint-custom-encoding": weasy_custom_encoding,
    "matplotlib-type3": matplotlib_type3,
    "matplotlib-type42": matplotlib_type42,
    "libreoffice-korean-deck": libreoffice_deck,
    "scanned-page": scanned,
}


def build(folder: Path) -> dict[str, tuple[Path, str]]:
    """Every PDF of the corpus that this machine can build, with the text it holds."""
    built = {}
    for name, make in CORPUS.items():
        path = folder / f"{name}.pdf"
        try:
            want = make(path)
        except (FileNotFoundError, subprocess.SubprocessError):
            continue
        if path.is_file():
            built[name] = (path, want)
    return built
