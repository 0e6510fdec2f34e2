// Front desk behaviour on top of htmx: refusals shown in place, keyboard moves, the "now" line.
(function () {
  "use strict";

  // Typing in the patient search is not a change of the search form: keep its "change"
  // from reaching the form, which would fetch the slot list again. (Done here rather than
  // with an htmx trigger filter, which needs eval and so a weaker Content-Security-Policy.)
  document.addEventListener("change", function (event) {
    if (event.target.id === "patient-q") event.stopPropagation();
  }, true);

  // A board in a background tab does not poll; it catches up when shown again.
  document.addEventListener("htmx:confirm", function (event) {
    if (document.hidden && event.detail.elt.id === "board" && event.detail.verb === "get") {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) document.body.dispatchEvent(new Event("board-changed"));
  });

  // htmx drops 4xx bodies by default. Ours carry the message to show where the user is
  // working (and the form as it was), so swap them like a success.
  var SHOWN = [400, 403, 404, 409, 422];
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    // A 503 of ours (the database cannot be reached) carries its message for #alert too.
    var ours = xhr.status === 503 && xhr.getResponseHeader("HX-Retarget") === "#alert";
    if (SHOWN.indexOf(xhr.status) >= 0 || ours) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    if (event.detail.target && event.detail.target.id === "board") {
      var active = document.activeElement;
      window.__boardFocus = active && event.detail.target.contains(active) ? active.id : null;
    }
  });

  function alertText(text) {
    var region = document.getElementById("alert");
    if (!region) return;
    region.innerHTML = "";
    var box = document.createElement("div");
    box.className = "alert-box";
    var p = document.createElement("p");
    p.textContent = text;
    var dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "link";
    dismiss.setAttribute("data-dismiss", "");
    dismiss.textContent = "Dismiss";
    box.appendChild(p);
    box.appendChild(dismiss);
    region.appendChild(box);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (SHOWN.indexOf(status) >= 0) return;
    if (status === 401) { window.location.reload(); return; }
    alertText("Something went wrong on our side (error " + status + "). It has been logged. " +
      "What you typed is still here: try again, and if it keeps happening tell the clinic admin.");
  });
  document.addEventListener("htmx:sendError", function () {
    alertText("The server cannot be reached. What you typed is still here: check the connection and try again.");
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-dismiss]")) {
      document.getElementById("alert").innerHTML = "";
    }
  });

  // After the side panel changes, put the keyboard where the next step is.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "panel") {
      var next = target.querySelector("[data-focus]") || target.querySelector("button.book") ||
        target.querySelector("#find-form select") || target.querySelector("h2");
      if (next) {
        if (!next.hasAttribute("tabindex") && next.tagName === "H2") next.setAttribute("tabindex", "-1");
        next.focus();
      }
    }
    if (target.id === "patient-pick" || (target.closest && target.closest("#patient-pick"))) {
      // A patient was chosen: on to the type, or straight to the best slot if one is chosen.
      var type = document.getElementById("id_appointment_type");
      var best = document.querySelector("#slots button.book");
      var step = type && !type.value ? type : best || type;
      if (document.getElementById("chosen-patient") && step) step.focus();
    }
    if (target.id === "board" || (target.closest && target.closest("#board"))) {
      initBoard();
      if (window.__boardFocus) {
        var again = document.getElementById(window.__boardFocus);
        if (again) { setRoving(again); again.focus(); }
        window.__boardFocus = null;
      }
    }
  });

  // "/" opens find-and-book from anywhere outside a text field.
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    var typing = tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable;
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var find = document.getElementById("find-slot");
      if (find) { event.preventDefault(); find.click(); }
    }
    if (event.key === "Escape" && document.getElementById("alert").innerHTML) {
      document.getElementById("alert").innerHTML = "";
    }
  });

  // The board: one tab stop; arrow keys between times (up/down) and columns (left/right).
  function items(col) {
    return Array.prototype.slice.call(col.querySelectorAll(".cell:not([disabled]), .appt"))
      .sort(function (a, b) { return parseFloat(a.style.top) - parseFloat(b.style.top); });
  }
  function setRoving(target) {
    var grid = document.querySelector("#board .grid");
    if (!grid) return;
    grid.querySelectorAll('[tabindex="0"]').forEach(function (el) { el.setAttribute("tabindex", "-1"); });
    target.setAttribute("tabindex", "0");
  }
  function nearest(list, top) {
    var best = null, distance = Infinity;
    list.forEach(function (el) {
      var d = Math.abs(parseFloat(el.style.top) - top);
      if (d < distance) { distance = d; best = el; }
    });
    return best;
  }
  function initBoard() {
    var grid = document.querySelector("#board .grid");
    if (!grid || grid.dataset.ready) return;
    grid.dataset.ready = "1";
    var cols = Array.prototype.slice.call(grid.querySelectorAll(".col"));
    var first = null;
    var now = grid.querySelector(".now");
    cols.some(function (col) {
      var list = items(col);
      if (!list.length) return false;
      first = now ? nearest(list, parseFloat(now.style.top)) : list[0];
      return true;
    });
    if (first) first.setAttribute("tabindex", "0");
    grid.addEventListener("keydown", function (event) {
      var current = event.target.closest(".cell, .appt");
      if (!current) return;
      var col = current.closest(".col");
      var list = items(col);
      var index = list.indexOf(current);
      var next = null;
      var colIndex = cols.indexOf(col);
      switch (event.key) {
        case "ArrowDown": next = list[index + 1]; break;
        case "ArrowUp": next = list[index - 1]; break;
        case "Home": next = list[0]; break;
        case "End": next = list[list.length - 1]; break;
        case "ArrowRight":
        case "ArrowLeft":
          var step = event.key === "ArrowRight" ? 1 : -1;
          for (var c = colIndex + step; c >= 0 && c < cols.length && !next; c += step) {
            next = nearest(items(cols[c]), parseFloat(current.style.top));
          }
          break;
        default: return;
      }
      event.preventDefault();
      if (next) {
        setRoving(next);
        next.focus();
        next.scrollIntoView({ block: "nearest" });
      }
    });
    grid.addEventListener("focusin", function (event) {
      var item = event.target.closest(".cell, .appt");
      if (item) setRoving(item);
    });
  }

  // Lists in the panel (patients found, slots): arrow keys between their buttons.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var scope = null;
    if (event.target.id === "patient-q") {
      scope = document.getElementById("patient-results");
    } else {
      scope = event.target.closest("#patient-results, [data-listnav]");
    }
    if (!scope) return;
    var buttons = Array.prototype.slice.call(scope.querySelectorAll("button.result, button.book"));
    if (!buttons.length) return;
    var index = buttons.indexOf(event.target);
    var next = event.key === "ArrowDown" ? buttons[index + 1] : buttons[index - 1];
    if (event.target.id === "patient-q" && event.key === "ArrowDown") next = buttons[0];
    if (next) { event.preventDefault(); next.focus(); }
  });

  // The "now" line moves by itself.
  function moveNow() {
    var grid = document.querySelector("#board .grid");
    if (!grid) return;
    var start = parseFloat(grid.dataset.start), ppm = parseFloat(grid.dataset.ppm);
    grid.querySelectorAll(".now").forEach(function (line) {
      line.style.top = ((Date.now() - start) / 60000 * ppm).toFixed(1) + "px";
    });
  }
  setInterval(moveNow, 60000);

  document.addEventListener("DOMContentLoaded", initBoard);
})();
