"""render: a group's `Report` -> report.pdf (Jinja2 -> HTML -> WeasyPrint) and slides.pptx (grader.outputs.slides).

One data model (`outputs/report.Report`) feeds both. Student text is escaped (autoescape) or, for REPORT.md, rendered as
Markdown with raw HTML and images off and then sanitized with an allowlist. WeasyPrint may fetch nothing but
`data:` URIs, files under the grader's own templates folder and the font files of `grader.outputs.fonts`.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from grader.layout import Layout, templates_dir
from grader.measure import metrics
from grader.outputs import fonts
from grader.outputs.report import Report
from grader.outputs.text import clean_text
from grader.records import RenderRecord
from grader.review.pages import report_page
from grader.storage import write_atomic


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


@cache
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
    )
    env.filters["clean"] = clean_text
    env.filters["num"] = lambda v, digits=3: "n/a" if v is None else f"{v:.{digits}f}"
    env.globals["metrics"] = metrics.shown  # the metrics a view shows (grader.measure.metrics)
    env.globals["headline"] = metrics.BY_KEY[metrics.HEADLINE]
    return env


def render_template(name: str, data: dict[str, Any]) -> str:
    return str(_environment().get_template(name).render(**data))


def render_html(report: Report) -> str:
    context = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    context["plot_uri"] = data_uri(report.plot) if report.plot else None
    context["sweep_uris"] = {name: data_uri(path) for name, path in report.sweep_plots.items()}
    return render_template("report.html.j2", context)


def safe_fetcher() -> Any:
    """A WeasyPrint URL fetcher that serves `data:`, the grader's own assets and the font files it ships, and
    refuses everything else."""
    from urllib.parse import unquote, urlparse

    from weasyprint.urls import URLFetcher, URLFetchingError

    root = templates_dir().resolve()
    shipped = {face.path.resolve() for face in fonts.faces()}

    class AssetsOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            parsed = urlparse(url)
            if parsed.scheme == "data":
                return super().fetch(url, headers)
            local = Path(unquote(parsed.path)).resolve() if parsed.scheme == "file" else None
            if local is not None and (local.is_relative_to(root) or local in shipped):
                return super().fetch(url, headers)
            raise URLFetchingError(f"refused by the grader's renderer: {url[:80]}")

    return AssetsOnly(allowed_protocols={"data", "file"}, allow_redirects=False, timeout=1)


def write_pdf(html: str, path: Path) -> None:
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    fetcher, font_config = safe_fetcher(), FontConfiguration()
    faces = CSS(string=fonts.face_css(), url_fetcher=fetcher, font_config=font_config)
    # Without libharfbuzz-subset WeasyPrint subsets fonts with fontTools, which stamps each font with the time of
    # day unless SOURCE_DATE_EPOCH is set: a fixed stamp keeps the same inputs giving the same bytes.
    with _environ(SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", "0")):
        pdf = HTML(string=html, base_url=templates_dir().as_uri() + "/", url_fetcher=fetcher).write_pdf(
            stylesheets=[faces], font_config=font_config
        )
    write_atomic(path, pdf)


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def minimal(name: str, status: str, reason: str, grade: Any, why: str, layout: Layout) -> RenderRecord:
    """A short report.pdf when the full one cannot be rendered (time, memory, a renderer bug): status, points and
    reasons only, every field bounded, so a group always has a report that says what happened."""
    html = render_template(
        "minimal.html.j2", {"group": name, "status": status, "reason": reason, "grade": grade, "why": why}
    )
    write_pdf(html, layout.report_pdf(name))
    short = f"short report only: {why}"[:500]
    return RenderRecord(group=name, status="failed", message=short, report_pdf=layout.report_pdf(name).name)


def run(report: Report, layout: Layout, name: str) -> RenderRecord:
    from grader.outputs.slides import write_pptx

    started = time.monotonic()
    html, undrawable = fonts.printable(render_html(report))  # a missing glyph would garble the text layer
    write_pdf(html, layout.report_pdf(name))
    write_atomic(layout.report_html(name), report_page(html).encode())
    write_pptx(report, layout.slides(name))
    plots = ["training.png"] if layout.plot(name, "training").is_file() else []
    return RenderRecord(
        group=name,
        report_pdf=layout.report_pdf(name).name,
        slides_pptx=layout.slides(name).name,
        plots=plots,
        missing_glyphs=undrawable[:200],
        seconds=round(time.monotonic() - started, 2),
    )
