/* Citation previews: hovering (or focusing) a citation shows the full reference in a small box.
 *
 * sphinxcontrib-bibtex already writes the formatted reference into each citation link's title;
 * the browser would show it only after a delay, unstyled, and never on focus. Here the title
 * moves to data-kx-cite and one shared box shows it next to the link. No request is made, so
 * it works over file:// as well as over http.
 */
(function () {
  "use strict";
  let box = null;
  function show(a) {
    if (!box) {
      box = document.createElement("div");
      box.className = "kx-cite-pop";
      box.setAttribute("role", "tooltip");
      box.id = "kx-cite-pop";
      document.body.appendChild(box);
    }
    box.textContent = a.dataset.kxCite;
    box.hidden = false;
    const r = a.getBoundingClientRect();
    const w = Math.min(420, window.innerWidth - 16);
    box.style.maxWidth = w + "px";
    let left = Math.min(Math.max(8, r.left + window.scrollX), window.scrollX + window.innerWidth - w - 8);
    box.style.left = left + "px";
    box.style.top = (r.bottom + window.scrollY + 6) + "px";
    a.setAttribute("aria-describedby", "kx-cite-pop");
  }
  function hide(a) {
    if (box) box.hidden = true;
    if (a) a.removeAttribute("aria-describedby");
  }
  function start() {
    document.querySelectorAll('a.reference.internal[href*="references.html#"][title]').forEach((a) => {
      a.dataset.kxCite = a.getAttribute("title");
      a.removeAttribute("title");
      a.classList.add("kx-cite");
      a.addEventListener("mouseenter", () => show(a));
      a.addEventListener("focus", () => show(a));
      a.addEventListener("mouseleave", () => hide(a));
      a.addEventListener("blur", () => hide(a));
    });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") hide(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
