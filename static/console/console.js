// Bluewire console: the only hand-written script (our CSP forbids inline scripts).
(function () {
  "use strict";

  // Tell the server the viewer's time zone so every time is rendered in it.
  var COOKIE = "bw_tz";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var current = (document.cookie.match(/(?:^|;\s*)bw_tz=([^;]*)/) || [])[1];
    if (zone && decodeURIComponent(current || "") !== zone) {
      // The login page is nearly always the first visit, so later pages render in local time;
      // until then the footer says which zone times are in.
      document.cookie = COOKIE + "=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* keep UTC */ }

  // Wide tables scroll sideways inside their own box instead of pushing the page wider
  // (console.css lets a table's parent scroll until this runs, or without JavaScript).
  function wrapTables(root) {
    var tables = (root || document).querySelectorAll("main table");
    Array.prototype.forEach.call(tables, function (table) {
      var parent = table.parentNode;
      if (!parent || (parent.classList && parent.classList.contains("table-scroll"))) { return; }
      var box = document.createElement("div");
      box.className = "table-scroll";
      parent.insertBefore(box, table);
      box.appendChild(table);
    });
  }
  wrapTables(document);
  document.addEventListener("htmx:afterSettle", function () { wrapTables(document); });

  // Escape folds the narrow-screen menu (a checkbox toggle that also works without this).
  document.addEventListener("keydown", function (event) {
    var toggle = document.getElementById("nav-toggle");
    if (event.key === "Escape" && toggle && toggle.checked) {
      toggle.checked = false;
      toggle.focus();
    }
  });

  // After an htmx swap, move focus to the swapped region so keyboard users keep their place.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id && !target.contains(document.activeElement)) {
      var fresh = document.getElementById(target.id);
      if (fresh) {
        if (!fresh.hasAttribute("tabindex")) { fresh.setAttribute("tabindex", "-1"); }
        fresh.focus({ preventScroll: true });
      }
    }
  });

  // Refusals htmx does not swap (403 for read-only roles, 404, server errors) still get said.
  document.addEventListener("htmx:responseError", function (event) {
    var flash = document.getElementById("flash");
    if (!flash) { return; }
    var status = event.detail && event.detail.xhr ? event.detail.xhr.status : 0;
    flash.textContent = status === 403 ? "Your role cannot make this change."
      : status === 404 ? "That item no longer exists."
      : "Something went wrong (" + status + "). Reload the page and try again.";
    flash.hidden = false;
  });

  // "g" then a letter jumps between sections, like many operations tools.
  var shortcuts = { d: "/console/", s: "/console/setups/", p: "/console/lines/pending/",
    b: "/console/blocked/", i: "/console/identities/", c: "/console/conversations/",
    w: "/console/deliveries/", a: "/console/audit/" };
  var pendingG = false;
  document.addEventListener("keydown", function (event) {
    var tag = (event.target && event.target.tagName) || "";
    if (event.ctrlKey || event.metaKey || event.altKey || /INPUT|SELECT|TEXTAREA/.test(tag)) { return; }
    if (pendingG && shortcuts[event.key]) {
      pendingG = false;
      window.location.href = shortcuts[event.key];
      return;
    }
    pendingG = event.key === "g";
  });
})();
