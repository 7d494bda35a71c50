/* Lantern Books: small progressive enhancements on top of htmx (the pages work without them). */
(function () {
  "use strict";

  // After htmx replaces the catalogue results, the cart or the wishlist, move focus to their heading
  // so screen-reader and keyboard users land on the new content.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.elt;
    if (!target || !target.id) return;
    var heading = null;
    if (target.id === "results") heading = document.getElementById("results-title");
    if (target.id === "cart") heading = document.getElementById("cart-title");
    if (target.id === "wishlist") heading = document.getElementById("wishlist-title");
    if (heading) heading.focus({ preventScroll: false });
  });

  // The catalogue filters come folded (unless some are in use), so on a phone the results come first.
  // On wider screens the stylesheet shows them anyway; mark them open there so that assistive
  // technology is told the same (nothing moves: they are already on screen).
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector(".filters-box");
    if (!box) return;
    var wide = window.matchMedia("(min-width: 50rem)");
    var summary = box.querySelector("summary");
    var follow = function () {
      if (wide.matches) box.setAttribute("open", "");
      // there is nothing to fold on a wide screen: "Refine" is a heading there, not a button to tab to
      if (wide.matches) summary.setAttribute("tabindex", "-1");
      else summary.removeAttribute("tabindex");
    };
    follow();
    wide.addEventListener("change", follow);
  });

  // Escape closes the live search suggestions.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var box = document.getElementById("search-suggestions");
    if (box && box.firstChild) box.replaceChildren();
  });

  // Clicking outside the search box closes the suggestions.
  document.addEventListener("click", function (event) {
    var search = document.querySelector(".site-search");
    var box = document.getElementById("search-suggestions");
    if (search && box && !search.contains(event.target)) box.replaceChildren();
  });

  // A checkout button is pressed once: the second press would send the same order again
  // (the server would recognise it by its Idempotency-Key, but there is no need to try).
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[data-once]");
    if (!button) return;
    if (button.getAttribute("aria-disabled") === "true") {
      event.preventDefault();
      return;
    }
    button.setAttribute("aria-disabled", "true");
    button.textContent = "Placing your order…";
  });
})();
