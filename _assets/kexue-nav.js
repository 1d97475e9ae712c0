/* The sidebar toggles of the book's pages (loaded on every page).
 *
 * sphinx-book-theme puts its own "Toggle primary sidebar" and "page contents" buttons in the
 * article header, but pydata-sphinx-theme only binds the first .primary-toggle/.secondary-toggle
 * of the page (its own navbar buttons, hidden at most widths), so the visible buttons did
 * nothing. Here each visible toggle either hides/shows the sidebar where it sits beside the
 * article (wide screens), or, where the sidebar is off screen (phones, tablets), opens it the
 * theme's way: as the modal dialog the theme's own (first) button opens.
 */
(function () {
  "use strict";
  function inline(sidebar) {
    if (!sidebar) return false;
    const r = sidebar.getBoundingClientRect(), s = getComputedStyle(sidebar);
    return s.display !== "none" && s.visibility !== "hidden" && r.width > 0 && r.right > 0 &&
      r.left < window.innerWidth;
  }
  function bind(kind) {
    const buttons = [...document.querySelectorAll("." + kind + "-toggle")];
    const themeButton = buttons[0];
    const sidebar = document.getElementById(kind === "primary" ? "pst-primary-sidebar" : "pst-secondary-sidebar");
    const hidden = "kx-hide-" + kind;
    buttons.slice(1).forEach((b) => {
      b.setAttribute("aria-controls", sidebar ? sidebar.id : "");
      b.addEventListener("click", (e) => {
        e.preventDefault();
        e.stopPropagation();
        if (document.documentElement.classList.contains(hidden)) {
          document.documentElement.classList.remove(hidden);      // show it again
          b.setAttribute("aria-expanded", "true");
        } else if (inline(sidebar)) {
          document.documentElement.classList.add(hidden);         // wide screen: fold it away
          b.setAttribute("aria-expanded", "false");
        } else if (themeButton) {
          themeButton.click();                                   // narrow screen: the theme's dialog
        }
      });
    });
  }
  function start() { bind("primary"); bind("secondary"); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
