// A group's review page: flip Part A cells, set item points, save, re-render, mark reviewed. Plain DOM, no library.
// Every request carries the session token in a header; the server refuses a POST without it or from another origin.
(function () {
  "use strict";
  const body = document.body;
  const token = body.dataset.token;
  const folder = body.dataset.folder;
  const message = document.getElementById("message");
  const save = document.getElementById("save");
  const served = Boolean(token);

  function say(text, bad) {
    message.textContent = text;
    message.className = bad ? "bad" : "muted";
  }

  function post(path, data) {
    return fetch(path, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Grader-Token": token},
      body: JSON.stringify(Object.assign({folder: folder}, data)),
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || r.statusText);
        return j;
      });
    });
  }

  const cells = Array.from(document.querySelectorAll("#grid td.cell"));
  function changed() {
    const cellsChanged = cells.some(function (c) { return c.dataset.dirty === "yes"; });
    const itemsChanged = Array.from(document.querySelectorAll("table.items tr[data-item]")).some(function (r) { return r.dataset.dirty === "yes"; });
    save.disabled = !(cellsChanged || itemsChanged);
  }

  function flip(cell) {
    const now = cell.dataset.shown === "yes" ? "no" : "yes";
    cell.dataset.shown = now;
    cell.dataset.dirty = "yes";
    cell.classList.toggle("yes", now === "yes");
    cell.classList.toggle("no", now === "no");
    cell.classList.add("dirty");
    cell.setAttribute("aria-pressed", now === "yes" ? "true" : "false");
    cell.querySelector(".mark").textContent = now === "yes" ? "✓" : "✗";
    say("not saved yet: save (s), then re-render (r)");
    changed();
  }

  cells.forEach(function (cell) {
    cell.addEventListener("click", function (e) {
      if (e.target.classList.contains("cell-comment")) return;
      if (served) flip(cell);
    });
    cell.querySelector(".cell-comment").addEventListener("input", function () {
      cell.dataset.dirty = "yes";
      changed();
    });
    cell.addEventListener("keydown", function (e) {
      if (e.target !== cell) return;
      const i = cells.indexOf(cell);
      const moves = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: 4, ArrowUp: -4};
      if (e.key === " " || e.key === "Enter") { e.preventDefault(); if (served) flip(cell); }
      else if (moves[e.key] && cells[i + moves[e.key]]) { e.preventDefault(); cells[i + moves[e.key]].focus(); }
    });
  });

  document.querySelectorAll("table.items tr[data-item] input").forEach(function (input) {
    input.addEventListener("input", function () {
      input.closest("tr").dataset.dirty = "yes";
      changed();
    });
  });

  function saveAll() {
    const jobs = [];
    cells.filter(function (c) { return c.dataset.dirty === "yes"; }).forEach(function (c) {
      const automatic = c.dataset.automatic, shown = c.dataset.shown;
      const comment = c.querySelector(".cell-comment").value;
      jobs.push(post("/api/cell", {
        parameter: c.closest("tr").dataset.param,
        question: c.dataset.question,
        // back to the automatic reading with no comment: the correction is removed
        answered: shown === automatic && !comment ? null : shown === "yes",
        comment: comment,
      }).then(function () { c.dataset.dirty = "no"; c.classList.remove("dirty"); }));
    });
    document.querySelectorAll("table.items tr[data-item]").forEach(function (r) {
      if (r.dataset.dirty !== "yes") return;
      const points = r.querySelector("input.points").value;
      jobs.push(post("/api/points", {
        item: r.dataset.item,
        points: points === "" ? null : parseFloat(points),
        comment: r.querySelector("input.comment").value,
      }).then(function () { r.dataset.dirty = "no"; }));
    });
    if (!jobs.length) return Promise.resolve();
    say("saving…");
    return Promise.all(jobs).then(function () {
      say("saved: re-render (r) to see the new points in the report and the gradebook");
      changed();
    }, function (err) { say("not saved: " + err.message, true); });
  }

  function rerender() {
    say("re-rendering (grade + report + deck, no model)…");
    document.getElementById("rerender").disabled = true;
    return saveAll().then(function () {
      return post("/api/rerender", {});
    }).then(function (j) {
      sessionStorage.setItem("grader-message", "re-rendered: " + j.total + " / " + j.max_total + " points");
      window.location.reload();
    }, function (err) {
      document.getElementById("rerender").disabled = false;
      say("re-render failed: " + err.message, true);
    });
  }

  const reviewed = document.getElementById("reviewed");
  reviewed.addEventListener("change", function () {
    post("/api/reviewed", {reviewed: reviewed.checked}).then(function () {
      say(reviewed.checked ? "marked reviewed" : "marked not reviewed");
    }, function (err) { say(err.message, true); });
  });
  save.addEventListener("click", saveAll);
  document.getElementById("rerender").addEventListener("click", rerender);

  const left = sessionStorage.getItem("grader-message");
  if (left) { say(left); sessionStorage.removeItem("grader-message"); }

  document.addEventListener("keydown", function (e) {
    if (e.target.closest("input, select, textarea, button")) return;
    const next = document.getElementById("next");
    if (e.key === "s") { e.preventDefault(); saveAll(); }
    else if (e.key === "r") { e.preventDefault(); rerender(); }
    else if (e.key === "v") { reviewed.checked = !reviewed.checked; reviewed.dispatchEvent(new Event("change")); }
    else if (e.key === "n" && next) { window.location.href = next.href; }
    else if (e.key === "h") { window.location.href = document.getElementById("home").href; }
  });
  if (!served) document.querySelectorAll("input, button").forEach(function (el) { el.disabled = true; });
})();
