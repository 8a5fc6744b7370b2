// The dashboard: sort by a column, filter by text, status and "needs a look". Plain DOM, no library.
(function () {
  "use strict";
  const table = document.getElementById("book");
  const body = table.tBodies[0];
  const filter = document.getElementById("filter");
  const status = document.getElementById("status");
  const flagged = document.getElementById("flagged");
  const shown = document.getElementById("shown");

  function value(row, col, type) {
    const v = row.cells[col].dataset.v || row.cells[col].textContent;
    return type === "num" ? parseFloat(v) || 0 : v.toLowerCase();
  }

  Array.from(table.tHead.rows[0].cells).forEach(function (th, col) {
    if (!th.dataset.type) return;
    th.tabIndex = 0;
    th.classList.add("sortable");
    function sort() {
      const down = th.dataset.order !== "desc";
      Array.from(table.tHead.rows[0].cells).forEach(function (c) { delete c.dataset.order; });
      th.dataset.order = down ? "desc" : "asc";
      const rows = Array.from(body.rows);
      rows.sort(function (a, b) {
        const x = value(a, col, th.dataset.type), y = value(b, col, th.dataset.type);
        return (x < y ? -1 : x > y ? 1 : 0) * (down ? -1 : 1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
  });

  function apply() {
    const text = filter.value.trim().toLowerCase();
    let n = 0;
    Array.from(body.rows).forEach(function (r) {
      const ok = (!text || r.textContent.toLowerCase().includes(text) || (r.querySelector(".flagged") || {title: ""}).title.toLowerCase().includes(text))
        && (!status.value || r.dataset.status === status.value)
        && (!flagged.checked || r.dataset.needs === "yes");
      r.hidden = !ok;
      if (ok) n += 1;
    });
    shown.textContent = n + " of " + body.rows.length + " groups shown";
  }
  [filter, status, flagged].forEach(function (el) { el.addEventListener("input", apply); });
  apply();

  document.addEventListener("keydown", function (e) {
    if (e.target.closest("input, select, textarea")) return;
    if (e.key === "/") { e.preventDefault(); filter.focus(); }
    const next = document.getElementById("next");
    if (e.key === "n" && next) { window.location.href = next.href; }
  });
})();
