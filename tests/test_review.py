"""`grader review` and reports/index.html in a real browser: the system's headless Chromium driven by Selenium.

One small class is graded per module from recorded answers (a preview: no model), then the static dashboard and
the review server are opened the way an instructor would: sort, open a group, flip a Part A cell, save, re-render,
and check the PDF, the gradebook and a later `grader grade`. Skipped, saying why, where Chromium is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, pdf_text

HOSTILE = "<img src=x onerror=alert(1)>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _recorded(subs: Path, source: str, name: str) -> Path:
    """An example group as pushed after its GPU run: its answers recorded in answers.jsonl, so no model runs."""
    group = subs / name
    shutil.copytree(EXAMPLES / source, group)
    tests = [json.loads(line) for line in (group / "tests.jsonl").read_text(encoding="utf-8").splitlines() if line]
    answers = [
        {"instruction": t["instruction"], "base": "I do not know.", "finetuned": t["answer"] if i % 2 else "Illite."}
        for i, t in enumerate(tests)
    ]
    (group / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers), encoding="utf-8")
    return group


def _grade(subs: Path, out: Path) -> Any:
    from grader.config import RunSettings
    from grader.running import pipeline

    return pipeline.run(subs, RunSettings(out=out, preview=True))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(submissions, reports) of three groups: a good one, a weak one, and one whose name and deck are hostile."""
    base = tmp_path_factory.mktemp("review")
    subs = base / "subs"
    _recorded(subs, "good-group", "team-7")
    _recorded(subs, "weak-group", "weak-team")
    hostile = _recorded(subs, "good-group", HOSTILE)
    report = (hostile / "REPORT.md").read_text(encoding="utf-8")
    report = report.replace("Controls the size", "<script>alert(2)</script> Controls the size", 1)
    report += "\n\n<script>alert(3)</script> <img src=x onerror=alert(4)>\n"
    (hostile / "REPORT.md").write_text(report, encoding="utf-8")
    rows = _grade(subs, base / "reports")
    assert [r.status for r in rows] == ["graded"] * 3, [r.reason for r in rows]
    return subs, base / "reports"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: GRADER_SCREENSHOTS when set (README's come from there), else a temporary folder."""
    folder = os.environ.get("GRADER_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


def _screenshot(driver: Any, path: Path) -> None:
    """The top of the page at a size that shows a group's header, rubric and the start of its Part A grid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(1280, 1500)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.execute_async_script("document.fonts.ready.then(arguments[0])")  # Hangul from the served fonts
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    assert path.stat().st_size > 10_000, "an empty screenshot"


@pytest.fixture(scope="module")
def live(graded: tuple[Path, Path]) -> Iterator[Any]:
    """`grader review REPORTS/` on a free port of 127.0.0.1, in a thread of this process."""
    from grader.review import server

    review, app_server, sock = server.prepare(graded[1])
    thread = threading.Thread(target=app_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(100):
        if app_server.started:
            break
        time.sleep(0.05)
    yield review
    app_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM or not DRIVER:
        pytest.skip("Chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _no_dialog(driver: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - reading it is the check


def _wait(driver: Any, condition: Any, seconds: float = 60) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def _points(driver: Any) -> list[float]:
    from selenium.webdriver.common.by import By

    return [
        float(td.get_attribute("data-v")) for td in driver.find_elements(By.CSS_SELECTOR, "#book tbody td:nth-child(3)")
    ]


def test_the_static_dashboard_shows_every_group_and_sorts_by_points(
    browser: Any, graded: tuple[Path, Path], shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    index = graded[1] / "index.html"
    browser.get(index.as_uri())
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#book a.group")]
    assert sorted(names) == sorted(["team-7", "weak-team", HOSTILE])
    browser.find_element(By.ID, "sort-total").click()
    assert _points(browser) == sorted(_points(browser), reverse=True)
    browser.find_element(By.ID, "sort-total").click()
    assert _points(browser) == sorted(_points(browser))
    assert browser.find_elements(By.CSS_SELECTOR, "svg rect.bar"), "no plot drawn"
    _no_dialog(browser)
    # its group links open the report's own HTML (what the PDF is printed from), beside report.pdf
    link = browser.find_element(By.LINK_TEXT, "weak-team").get_attribute("href")
    assert link.endswith("weak-team/report.html")
    browser.get(link)
    assert "weak-team" in browser.find_element(By.TAG_NAME, "h1").text
    assert "Part A" in browser.find_element(By.TAG_NAME, "body").text
    browser.get(index.as_uri())
    _screenshot(browser, shots / "review-dashboard.png")


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response's socket: left open, a ResourceWarning fails a later test
        return int(exc.code)


def test_a_post_without_the_token_or_from_another_origin_is_refused(live: Any) -> None:
    api = f"http://127.0.0.1:{live.port}/api/reviewed"
    body = {"folder": "team-7", "reviewed": True}
    assert _post(api, body, {}) == 403
    assert _post(api, body, {"X-Grader-Token": "wrong"}) == 403
    assert _post(api, body, {"X-Grader-Token": live.token, "Origin": "http://evil.example"}) == 403
    assert not (live.out / "review.json").exists(), "a refused request changed something"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{live.port}/", timeout=30)
    refused.value.close()
    assert refused.value.code == 403
    assert _post(api, body, {"X-Grader-Token": live.token, "Origin": f"http://127.0.0.1:{live.port}"}) == 200
    assert json.loads((live.out / "review.json").read_text())["team-7"]["reviewed"] is True


def test_only_the_groups_reports_are_served(live: Any) -> None:
    """report.pdf, slides.pptx, report.html and the plot of a group the gradebook lists; nothing else of reports/."""

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{live.port}{path}", timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response's socket: left open, a ResourceWarning fails a later test
            return int(exc.code)

    token = f"?token={live.token}"
    assert status(f"/files/team-7/report.pdf{token}") == 200
    assert status(f"/files/team-7/results.json{token}") == 404
    assert status(f"/files/..%2F..%2Fsubs/report.pdf{token}") == 404
    assert status(f"/group/no-such-group{token}") == 404
    assert status("/files/team-7/report.pdf") == 403


def test_the_review_command_names_what_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "grader", "review", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "has no gradebook.json: run `grader grade" in result.stderr


def test_a_hostile_group_name_and_deck_are_text_and_no_script_runs(browser: Any, live: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(live.url())
    assert HOSTILE in [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#book a.group")]
    _no_dialog(browser)
    browser.find_element(By.LINK_TEXT, HOSTILE).click()
    assert browser.find_element(By.ID, "group-name").text == HOSTILE
    passage = browser.find_element(By.CSS_SELECTOR, 'tr[data-param="learning_rate"] td.passage').text
    assert "<script>alert(2)</script>" in passage
    assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x']")
    _no_dialog(browser)
    browser.switch_to.frame(browser.find_element(By.ID, "report"))
    assert HOSTILE in browser.find_element(By.TAG_NAME, "h1").text
    assert not browser.find_elements(By.CSS_SELECTOR, "script, img[src='x']")
    browser.switch_to.default_content()
    _no_dialog(browser)


def test_a_flipped_cell_changes_the_points_report_and_gradebook_and_survives_a_regrade(
    browser: Any, live: Any, graded: tuple[Path, Path], shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    subs, out = graded
    before = _row(out, "weak-team")
    browser.get(live.url())
    browser.find_element(By.ID, "sort-total").click()
    browser.find_element(By.LINK_TEXT, "weak-team").click()
    cell = browser.find_element(By.CSS_SELECTOR, '#grid td.cell[data-shown="no"]')
    parameter = cell.find_element(By.XPATH, "..").get_attribute("data-param")
    question = cell.get_attribute("data-question")
    cell.find_element(By.CSS_SELECTOR, ".mark").click()
    assert cell.get_attribute("data-shown") == "yes"
    cell.find_element(By.CSS_SELECTOR, "input.cell-comment").send_keys("the passage says it in other words")
    browser.find_element(By.ID, "save").click()
    _wait(browser, lambda d: "saved" in d.find_element(By.ID, "message").text)
    saved = (out / "part_a_cells.csv").read_text(encoding="utf-8")
    assert f"weak-team,{parameter},{question},yes,the passage says it in other words" in saved
    browser.find_element(By.ID, "rerender").click()
    _wait(browser, lambda d: "re-rendered" in d.find_element(By.ID, "message").text)
    after = _row(out, "weak-team")
    from grader.measure import grade

    points = next(i.points for i in grade.load_rubric() if i.id == "part_a")
    share = points / 52  # one cell of the 13 x 4 grid (points are rounded to 0.01)
    assert float(after["part_a"]) == pytest.approx(float(before["part_a"]) + share, abs=0.011)
    assert float(after["total"]) == pytest.approx(float(before["total"]) + share, abs=0.011)
    assert f"{float(after['total']):g} / " in browser.find_element(By.ID, "total").text
    text = " ".join(_pdftotext(out / "weak-team" / "report.pdf").split())  # a narrow column wraps the words
    assert "corrected by the instructor" in text and "the passage says it in other words" in text
    totals = [float(_row(out, g)["total"]) for g in ("team-7", "weak-team", HOSTILE)]
    assert json.loads((out / "summary.json").read_text())["points"]["mean"] == pytest.approx(sum(totals) / 3, abs=0.01)
    _screenshot(browser, shots / "review-group.png")
    # a later `grader grade` keeps the correction
    rows = {r.group: r for r in _grade(subs, out)}
    assert rows["weak-team"].total == pytest.approx(float(after["total"]))


def _row(out: Path, group: str) -> dict[str, str]:
    import csv

    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        return next(r for r in csv.DictReader(fh) if r["group"] == group)


def _pdftotext(pdf: Path) -> str:
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return pdf_text(pdf)
