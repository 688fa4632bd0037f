// cool-runner's page: the server renders everything; this script only
// swaps in fresh parts of the page (`data-fragment` URLs) when the server
// says something changed (server-sent events) and when the query form or
// a pager/sort link is used, so the page never reloads.
"use strict";
(function () {
  const live = document.getElementById("live");
  const busy = new Map();

  function refresh(el) {
    if (busy.get(el)) { busy.set(el, "again"); return; }
    busy.set(el, true);
    fetch(el.dataset.fragment, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) { el.innerHTML = html; })
      .catch(function () {})
      .finally(function () {
        const again = busy.get(el) === "again";
        busy.delete(el);
        if (again) refresh(el);
      });
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
    events.addEventListener("runs", function () { refreshOn("runs"); });
    events.addEventListener("running", function () { refreshOn("running"); });
    events.addEventListener("queue", function () { refreshOn("queue"); });
    events.onopen = function () { live.textContent = "live"; live.className = "on"; };
    events.onerror = function () { live.textContent = "reconnecting…"; live.className = "off"; };
  }
})();
