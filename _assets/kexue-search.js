/* Snippets for the search page, without fetching other pages (loaded on every page; acts on
 * search.html only).
 *
 * Sphinx's search ranks the pages from searchindex.js and would fetch each result page to cut
 * a snippet from it; a browser refuses such fetches over file://, so the book switches them off
 * (html_show_search_summary = False) and ships the plain text of every page in
 * _static/kexue-search-text.js (written by _ext/kexue_site.py). The snippet is cut around the
 * first place the query's words occur, and the words are highlighted.
 */
(function () {
  "use strict";
  const results = () => document.getElementById("search-results");
  function terms() {
    const q = new URLSearchParams(window.location.search).get("q") || "";
    return q.toLowerCase().split(/\s+/).filter((t) => t.length > 0);
  }
  function escapeHtml(s) {
    return s.replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }
  function snippet(text, words) {
    const lower = text.toLowerCase();
    const phrase = words.join(" ");
    let at = lower.indexOf(phrase);
    if (at < 0) {
      const hits = words.map((w) => lower.indexOf(w)).filter((i) => i >= 0);
      at = hits.length ? Math.min(...hits) : 0;
    }
    let start = Math.max(0, at - 90);
    if (start > 0) { const sp = text.indexOf(" ", start); if (sp >= 0 && sp < at) start = sp + 1; }
    let end = Math.min(text.length, start + 260);
    if (end < text.length) { const sp = text.lastIndexOf(" ", end); if (sp > at) end = sp; }
    let html = escapeHtml(text.slice(start, end));
    words.filter((w) => w.length > 1).forEach((w) => {
      const re = new RegExp("(" + escapeHtml(w).replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + ")", "gi");
      html = html.replace(re, '<span class="highlighted">$1</span>');
    });
    return (start > 0 ? "… " : "") + html + (end < text.length ? " …" : "");
  }
  function docOf(a) {
    const root = new URL(document.documentElement.dataset.content_root || "./", window.location.href);
    const u = new URL(a.getAttribute("href"), window.location.href);
    let path = decodeURI(u.pathname).slice(decodeURI(root.pathname).length);
    return path.replace(/\.html$/, "");
  }
  function plainTitle(a) {      // defensive: no TeX delimiters in a result title
    if (/\\[()[\]]/.test(a.textContent)) a.textContent = a.textContent.replace(/\\[()[\]]/g, "");
  }
  function annotate(li) {
    if (li.dataset.kxSnippet) return;
    const a = li.querySelector("a");
    if (!a || !window.KEXUE_SEARCH_TEXT) return;
    li.dataset.kxSnippet = "1";
    plainTitle(a);
    const text = window.KEXUE_SEARCH_TEXT[docOf(a)];
    if (!text) return;
    const p = document.createElement("p");
    p.className = "context kx-snippet";
    p.innerHTML = snippet(text, terms());
    li.appendChild(p);
  }
  function start() {
    const out = results();
    if (!out) return;                                     // not the search page
    const run = () => out.querySelectorAll("li").forEach(annotate);
    new MutationObserver(run).observe(out, {childList: true, subtree: true});
    const s = document.createElement("script");
    s.src = (document.documentElement.dataset.content_root || "./") + "_static/kexue-search-text.js";
    s.onload = run;
    document.head.appendChild(s);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
