"""`grader review REPORTS/`: the dashboard and the group pages on 127.0.0.1, with corrections.

Only the instructor who started it can use it: every request carries a random token (in the URL it prints, in a
header for the page's own requests), a POST from another origin is refused, and only the host names of this machine
are answered (a DNS-rebinding page cannot reach it). Pages allow only their own script (a per-page nonce).
Starlette's sync endpoints run in a thread pool: one lock serializes every write and re-render.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.layout import REPORT_FILES, Layout


@dataclass
class Review:
    out: Path
    token: str
    rubric: Path | None = None
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def origins(self) -> set[str]:
        return {f"http://{host}:{self.port}" for host in ("127.0.0.1", "localhost")}


def app(review: Review) -> Any:
    """The Starlette application of one review session."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.routing import Route

    routes = [
        Route("/", partial(_dashboard, review)),
        Route("/group/{folder}", partial(_group, review)),
        Route("/files/{folder}/{name}", partial(_file, review)),
        Route("/fonts/{n:int}", partial(_font, review)),
        Route("/api/{action}", partial(_api, review), methods=["POST"]),
    ]
    hosts = Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])
    return Starlette(routes=routes, middleware=[hosts])


def _allowed(review: Review, request: Any, post: bool = False) -> bool:
    given = request.headers.get("x-grader-token", "") if post else request.query_params.get("token", "")
    if not secrets.compare_digest(given.encode(), review.token.encode()):
        return False
    origin = request.headers.get("origin")
    return not post or origin is None or origin in review.origins()


def _refused() -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(
        {
            "error": "refused: the review token is missing or wrong, or the request came from another "
            "origin (open the URL `grader review` printed)"
        },
        status_code=403,
    )


def _page(html: str | None, nonce: str) -> Any:
    from starlette.responses import HTMLResponse

    if html is None:
        return HTMLResponse("no such group", status_code=404)
    policy = (
        f"default-src 'none'; img-src data:; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "connect-src 'self'; frame-src 'self'; font-src 'self'; form-action 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return HTMLResponse(
        html, headers={"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    )


def _dashboard(review: Review, request: Any) -> Any:
    from grader.review import pages

    if not _allowed(review, request):
        return _refused()
    nonce = secrets.token_urlsafe(16)
    return _page(pages.dashboard(review.out, pages.Links(review.token), nonce), nonce)


def _group(review: Review, request: Any) -> Any:
    from grader.review import pages

    if not _allowed(review, request):
        return _refused()
    nonce = secrets.token_urlsafe(16)
    return _page(pages.group_page(review.out, request.path_params["folder"], pages.Links(review.token), nonce), nonce)


def _file(review: Review, request: Any) -> Any:
    from starlette.responses import FileResponse, PlainTextResponse

    from grader.review import pages

    if not _allowed(review, request):
        return _refused()
    folder, name = request.path_params["folder"], request.path_params["name"]
    known = {line.folder for line in pages.group_lines(review.out)[0]}
    path = review.out / folder / name
    if folder not in known or name not in REPORT_FILES or not path.is_file():
        return PlainTextResponse("not found", status_code=404)
    # the report page in its own sandbox: no script, no form, even when opened alone
    headers = {
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return FileResponse(path, media_type=REPORT_FILES[name], headers=headers)


def _font(review: Review, request: Any) -> Any:
    """The fonts grader ships (fonts.faces), by number: Hangul in the pages on a machine without a Korean font."""
    from starlette.responses import PlainTextResponse, Response

    from grader.outputs import fonts

    if not _allowed(review, request):
        return _refused()
    faces = fonts.faces()
    n = request.path_params["n"]
    if not 0 <= n < len(faces):
        return PlainTextResponse("not found", status_code=404)
    return Response(_browser_font(faces[n].path), media_type="font/ttf", headers={"Cache-Control": "max-age=3600"})


@cache
def _browser_font(path: Path) -> bytes:
    """The font without the tables a browser's font sanitizer refuses: NanumGothic carries empty VTT hinting
    sources (TSI0-TSI5), and Chromium then drops the whole font (Hangul shows as boxes)."""
    import io

    from fontTools.ttLib import TTFont

    font = TTFont(str(path))
    for tag in ("TSI0", "TSI1", "TSI2", "TSI3", "TSI5"):
        if tag in font:
            del font[tag]
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


async def _api(review: Review, request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    if not _allowed(review, request, post=True):
        return _refused()
    try:
        data = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(data, dict):
        return JSONResponse({"error": "the body is not a JSON object"}, status_code=400)
    try:
        result = await run_in_threadpool(_act, review, request.path_params["action"], data)
    except (GraderError, ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(result)


def _act(review: Review, action: str, data: dict[str, Any]) -> dict[str, Any]:
    from grader.measure import grade
    from grader.review import cells, corrections, pages, regrade

    with review.lock:
        lines = pages.group_lines(review.out)[0]
        line = next((g for g in lines if g.folder == data.get("folder")), None)
        if line is None:
            raise GraderError(f"no group with the output folder {str(data.get('folder'))[:80]!r}")
        group, names = line.row.group, [g.row.group for g in lines]
        if action == "cell":
            parameter, question = str(data.get("parameter", "")), str(data.get("question", ""))
            answered = data.get("answered")
            cell = None
            if answered is not None:
                cell = cells.Cell(
                    group=group,
                    parameter=parameter,
                    question=question,
                    answered=bool(answered),
                    comment=str(data.get("comment", ""))[:500],
                )
            corrections.set_cell(review.out, names, cell, group, parameter, question)
            return {"ok": True}
        if action == "points":
            points = data.get("points")
            rubric = grade.load_rubric(review.rubric)
            value = None if points is None else float(points)
            corrections.set_points(
                review.out, rubric, names, group, str(data.get("item", "")), value, str(data.get("comment", ""))[:500]
            )
            return {"ok": True}
        if action == "reviewed":
            corrections.mark(review.out, group, bool(data.get("reviewed")))
            return {"ok": True}
        if action == "rerender":
            row = regrade.regrade(review.out, group, review.rubric)
            return {"ok": True, "total": row.total, "max_total": row.max_total, "items": row.items}
        raise GraderError(f"no action '{action[:40]}'")


def serve(out: Path, *, rubric: Path | None = None, port: int = 0, announce: Any = print) -> None:
    """Serve the review of `out` on 127.0.0.1 until Ctrl-C; `announce` gets the URL with its token."""
    review, server, sock = prepare(out, rubric=rubric, port=port)
    announce(review.url())
    server.run(sockets=[sock])


def prepare(out: Path, *, rubric: Path | None = None, port: int = 0) -> tuple[Review, Any, Any]:
    """The session (its token), the uvicorn server and its socket, bound to 127.0.0.1 (the port known before it
    starts: the URL can be printed first); the dashboard file is refreshed."""
    import socket

    import uvicorn

    from grader.review import pages

    if not Layout(out).gradebook_json.is_file():
        raise GraderError(f"{out} has no gradebook.json: run `grader grade --out {out}` first")
    pages.write_static(pages.layout_of(out, pages.read_rows(out)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    review = Review(out=out, token=secrets.token_urlsafe(24), rubric=rubric, port=sock.getsockname()[1])
    config = uvicorn.Config(app(review), log_level="warning", access_log=False)
    return review, uvicorn.Server(config), sock
