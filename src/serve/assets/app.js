// cool-runner's page: the server renders everything; this script only
// swaps in fresh parts of the page (`data-fragment` URLs) when the server
// says something changed (server-sent events) and when the query form or
// a pager/sort link is used, so the page never reloads.
"use strict";
(function () {
  const live = document.getElementById("live");
  const busy = new Map();
  // The newest change the server told of (the page was rendered with
  // at least `data-seq`); a part fetched older than that is fetched again.
  let latest = Number(document.body.dataset.seq || 0);

  function refresh(el) {
    if (busy.get(el)) { busy.set(el, "again"); return; }
    busy.set(el, true);
    let again = false;
    fetch(el.dataset.fragment, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        again = Number(r.headers.get("X-Cool-Runner-Seq") || 0) < latest;
        return r.text();
      })
      .then(function (html) { el.innerHTML = html; })
      .catch(function () { again = true; })
      .finally(function () {
        again = again || busy.get(el) === "again";
        busy.delete(el);
        if (again) setTimeout(function () { refresh(el); }, 50);
      });
  }

  // An event: remember its number, refresh the parts that show `what`.
  function heard(what, e) {
    latest = Math.max(latest, Number(e.lastEventId || 0));
    refreshOn(what);
  }

  function refreshOn(what) {
    document.querySelectorAll("[data-fragment]").forEach(function (el) {
      if ((el.dataset.on || "").split(" ").indexOf(what) >= 0) refresh(el);
    });
  }

  // Show a query's results without reloading: the address bar keeps it.
  function show(query) {
    const answer = document.getElementById("answer");
    if (!answer) { location.search = query; return; }
    history.pushState(null, "", "/?" + query);
    answer.dataset.fragment = "/fragment/results?" + query;
    refresh(answer);
  }

  const form = document.getElementById("query");
  if (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      const q = new URLSearchParams();
      new FormData(form).forEach(function (v, k) { if (String(v).trim() !== "") q.append(k, v); });
      show(q.toString());
    });
  }
  window.addEventListener("popstate", function () {
    const answer = document.getElementById("answer");
    if (answer) { answer.dataset.fragment = "/fragment/results" + location.search; refresh(answer); }
  });

  document.addEventListener("click", function (e) {
    const link = e.target.closest("a[data-query]");
    if (link) {
      e.preventDefault();
      show(link.getAttribute("href").replace(/^\/\?/, ""));
      return;
    }
    const row = e.target.closest("tr[data-href]");
    if (row && !e.target.closest("a")) location.href = row.dataset.href;
  });

  if (window.EventSource) {
    const events = new EventSource("/api/events");
    // On (re)connecting: anything missed since the page was rendered.
    events.addEventListener("hello", function (e) {
      if (Number(e.lastEventId || 0) > latest) heard("runs", e);
    });
    events.addEventListener("runs", function (e) { heard("runs", e); });
    events.addEventListener("running", function (e) { heard("running", e); });
    events.addEventListener("queue", function (e) { heard("queue", e); });
    events.onopen = function () { live.textContent = "live"; live.className = "on"; };
    events.onerror = function () { live.textContent = "reconnecting…"; live.className = "off"; };
  }
})();
