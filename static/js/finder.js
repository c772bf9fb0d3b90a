// Search boxes with a list of matches under them (ARIA combobox + listbox):
// - the contact finder of the forms ([data-finder][data-finder-pick]): picking a match puts
//   its party id in the hidden input and its label in the box, and fires "contact-changed";
// - the header search ([data-header-search]): a match is a link, picking it goes there;
//   Enter with no match chosen submits the search form (the results page).
// htmx fetches the matches (debounced in the hx-trigger); this file does the keyboard
// (arrows, Enter, Escape), the mouse, and opening/closing the list.
(function () {
  "use strict";

  function parts(el) {
    var root = el.closest("[data-finder]");
    if (!root) return null;
    return {
      root: root,
      input: root.querySelector("[data-finder-input]"),
      list: root.querySelector("[data-finder-list]"),
      value: root.querySelector("[data-finder-value]"),
      chosen: root.querySelector("[data-finder-chosen]"),
      picks: root.hasAttribute("data-finder-pick"),
    };
  }

  function options(p) {
    return Array.prototype.slice.call(p.list.querySelectorAll("[role=option]"));
  }

  function open(p) {
    if (!p.list.children.length) return close(p);
    p.list.hidden = false;
    p.input.setAttribute("aria-expanded", "true");
  }

  function close(p) {
    p.list.hidden = true;
    p.input.setAttribute("aria-expanded", "false");
    p.input.removeAttribute("aria-activedescendant");
  }

  function activeIndex(p) {
    return options(p).findIndex(function (o) { return o.classList.contains("active"); });
  }

  function activate(p, index) {
    var opts = options(p);
    opts.forEach(function (o, i) {
      o.classList.toggle("active", i === index);
      o.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (opts[index]) {
      p.input.setAttribute("aria-activedescendant", opts[index].id);
      opts[index].scrollIntoView({ block: "nearest" });
    } else {
      p.input.removeAttribute("aria-activedescendant");
    }
  }

  function changed(p, partyId) {
    p.root.dispatchEvent(new CustomEvent("contact-changed", { bubbles: true, detail: { partyId: partyId } }));
  }

  function pick(p, option) {
    if (option.hasAttribute("href")) {
      close(p);
      window.location.assign(option.getAttribute("href"));
      return;
    }
    p.value.value = option.dataset.value;
    p.input.value = option.dataset.label;
    if (p.chosen) p.chosen.textContent = option.dataset.summary || "";
    p.input.classList.remove("is-invalid");
    close(p);
    changed(p, option.dataset.value);
  }

  // The box's text is the query, whatever the box is named.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.matches && elt.matches("[data-finder-input]")) event.detail.parameters.q = elt.value;
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target.matches || !target.matches("[data-finder-list]")) return;
    var p = parts(target);
    options(p).forEach(function (o, i) { o.id = p.list.id + "-" + i; });
    var wanted = p.root.dataset.pickFirst === "1";
    delete p.root.dataset.pickFirst;
    if (document.activeElement !== p.input || !p.input.value.trim()) return close(p);
    if (p.picks && p.value.value) return close(p); // an answer overtaken by the pick
    if (wanted && options(p).length) return pick(p, options(p)[0]);
    open(p);
    if (p.picks && options(p).length) activate(p, 0);
  });

  document.addEventListener("input", function (event) {
    var p = event.target.matches("[data-finder-input]") && parts(event.target);
    if (!p) return;
    if (p.picks && p.value.value) {
      p.value.value = "";
      if (p.chosen) p.chosen.textContent = "";
      changed(p, "");
    }
    if (!p.input.value.trim()) {
      p.list.innerHTML = "";
      close(p);
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey &&
        !target.closest("input, textarea, select, [contenteditable]")) {
      var box = document.querySelector("[data-header-search] [data-finder-input]");
      if (box && box.offsetParent !== null) {
        event.preventDefault();
        box.focus();
        box.select();
      }
      return;
    }
    var p = target.matches("[data-finder-input]") && parts(target);
    if (!p) return;
    var opts = options(p);
    var index = activeIndex(p);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (p.list.hidden) {
        if (!opts.length) {
          if (p.input.value.trim()) htmx.trigger(p.input, "finder-search");
          return;
        }
        open(p);
      }
      var step = event.key === "ArrowDown" ? 1 : -1;
      activate(p, index < 0 ? (step > 0 ? 0 : opts.length - 1) : Math.min(Math.max(index + step, 0), opts.length - 1));
    } else if (event.key === "Enter") {
      if (!p.list.hidden && index >= 0) {
        event.preventDefault();
        pick(p, opts[index]);
      } else if (p.picks && !p.value.value && p.input.value.trim()) {
        // Typed but not picked yet: search now and take the first match.
        event.preventDefault();
        p.root.dataset.pickFirst = "1";
        htmx.trigger(p.input, "finder-search");
      }
    } else if (event.key === "Escape") {
      if (!p.list.hidden) {
        event.preventDefault();
        close(p);
      }
    } else if (event.key === "Tab") {
      close(p);
    }
  });

  // Mouse: keep the focus in the box while a match is clicked.
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest("[data-finder-list] [role=option]")) event.preventDefault();
  });
  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-finder-list] [role=option]");
    if (option) {
      event.preventDefault();
      pick(parts(option), option);
      return;
    }
    var inList = event.target.closest("[data-finder-list]");
    if (inList) return close(parts(inList)); // "no match": the list goes out of the way
    document.querySelectorAll("[data-finder]").forEach(function (root) {
      if (!root.contains(event.target)) {
        var p = parts(root);
        if (p.list && !p.list.hidden) close(p);
      }
    });
  });
  document.addEventListener("focusout", function (event) {
    var p = event.target.matches && event.target.matches("[data-finder-input]") && parts(event.target);
    if (p && !(event.relatedTarget && p.root.contains(event.relatedTarget))) close(p);
  });
  document.addEventListener("focusin", function (event) {
    var p = event.target.matches && event.target.matches("[data-finder-input]") && parts(event.target);
    if (p && p.input.value.trim() && options(p).length && !(p.picks && p.value.value)) open(p);
  });

  // Text typed into a finder before the page's scripts were ready (a quick typist, a slow
  // page): its "input" events went unheard, so it is searched once htmx has set the
  // finder up, when the box still has the focus and nothing has been picked.
  htmx.onLoad(function (content) {
    if (!content.querySelectorAll) return;
    content.querySelectorAll("[data-finder-input]").forEach(function (input) {
      var p = parts(input);
      if (document.activeElement === input && input.value.trim() && !options(p).length &&
          !(p.picks && p.value.value)) {
        htmx.trigger(input, "finder-search");
      }
    });
  });
})();
