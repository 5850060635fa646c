// recon console: the little a keyboard user needs, on top of plain forms.
// j / k move the row cursor in a table, x selects the row, Enter opens it,
// / focuses the search field. "Select every row" toggles the page's rows.
(function () {
  "use strict";
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr, table.pick tbody tr")); }
  var cur = -1;
  function mark(i) {
    var rs = rows();
    if (!rs.length) { return; }
    cur = Math.max(0, Math.min(rs.length - 1, i));
    rs.forEach(function (r, j) { r.classList.toggle("cursor", j === cur); });
    rs[cur].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "INPUT" && t.type !== "checkbox" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) { return; }
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var rs = rows();
    if (e.key === "j") { mark(cur + 1); e.preventDefault(); }
    else if (e.key === "k") { mark(cur - 1); e.preventDefault(); }
    else if (e.key === "x" && rs[cur]) { var c = rs[cur].querySelector("input[type=checkbox]"); if (c) { c.click(); } e.preventDefault(); }
    else if (e.key === "Enter" && rs[cur] && t.tagName !== "BUTTON") { var a = rs[cur].querySelector("a"); if (a) { a.click(); } }
    else if (e.key === "/") { var q = document.getElementById("q"); if (q) { q.focus(); e.preventDefault(); } }
  });
  document.addEventListener("change", function (e) {
    if (e.target && e.target.id === "all") {
      rows().forEach(function (r) { var c = r.querySelector("input[type=checkbox]"); if (c) { c.checked = e.target.checked; } });
    }
    if (e.target && e.target.id === "acct-pick") {
      e.target.form.submit();
    }
  });
})();
