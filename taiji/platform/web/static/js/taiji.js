// The console's behaviour, from this file only: the Content-Security-Policy runs no inline script
// and no on*= attribute. Pages ask for behaviour with data- attributes, handled here by delegation
// (so fragments swapped in by htmx get it too).

// htmx requests carry the CSRF token from the page (see hx-headers on <body>).
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("htmx-error");
  if (box) { box.textContent = event.detail.xhr.statusText || "Error"; box.classList.remove("d-none"); }
});

document.addEventListener("change", function (event) {
  var el = event.target;
  // <select data-autosubmit>: choosing submits its form.
  if (el.matches("[data-autosubmit]") && el.form) { el.form.submit(); }
  // <select data-navigate>: each option's value is an address to go to.
  if (el.matches("[data-navigate]") && el.value) { window.location = el.value; }
});

// <form data-confirm="question">: asks before it is sent.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.matches("[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});

document.addEventListener("click", function (event) {
  var el = event.target;
  // <input data-select-on-click>: one click selects the whole value, ready to copy.
  if (el.matches("input[data-select-on-click]")) { el.select(); }
  // <button data-copy="#input" data-copied="Copied">: copies the input's value.
  var button = el.closest("[data-copy]");
  if (button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) { navigator.clipboard.writeText(source.value !== undefined ? source.value : source.textContent.trim()); }
    button.textContent = button.getAttribute("data-copied") || button.textContent;
  }
});

// <input type=range data-zoom="#graph svg">: scales the SVG to value % of its natural width.
document.addEventListener("input", function (event) {
  var el = event.target;
  if (!el.matches("[data-zoom]")) { return; }
  var svg = document.querySelector(el.getAttribute("data-zoom"));
  if (svg) { svg.style.width = (el.value / 100 * svg.getAttribute("width")) + "px"; }
});

// <pre data-follow="#checkbox">: a live log that stays scrolled to its end while the box is ticked;
// reading earlier output unticks it, scrolling back to the end ticks it again.
function followLog(box) {
  var follow = document.querySelector(box.getAttribute("data-follow"));
  if (!follow) { return; }
  function atEnd() { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }
  box.addEventListener("scroll", function () { follow.checked = atEnd(); });
  box.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "log-tail" && follow.checked) {
      box.scrollTop = box.scrollHeight;
    }
  });
  follow.addEventListener("change", function () { if (follow.checked) { box.scrollTop = box.scrollHeight; } });
  box.scrollTop = box.scrollHeight;
}

document.querySelectorAll("[data-follow]").forEach(followLog);

// <button data-log-fold> in a job log's section header (<span class="log-line log-section">): folds
// the lines after it and unfolds them again. A header of the runner's (a script line) reaches to
// the next header; a named one (GitLab's section_start:…:name) to its section_end, headers within.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-log-fold]");
  if (!button) { return; }
  var header = button.closest(".log-line");
  var name = header.getAttribute("data-section");
  var fold = button.getAttribute("aria-expanded") === "true";
  button.setAttribute("aria-expanded", fold ? "false" : "true");
  var line = header.nextElementSibling;
  while (line && line.classList.contains("log-line")) {
    var end = line.classList.contains("log-section-end");
    if (name ? (end && line.getAttribute("data-section") === name)
             : (end || line.classList.contains("log-section"))) { break; }
    line.classList.toggle("log-folded", fold);
    var inner = line.querySelector("[data-log-fold]");
    if (inner && !fold) { inner.setAttribute("aria-expanded", "true"); }
    line = line.nextElementSibling;
  }
});

// Live updates. <el data-live="stream URL" data-live-target="id" data-live-refresh="URL">: an
// EventSource on the stream; each `state` event fetches the fragment at data-live-refresh again (as
// htmx's polling would) into #data-live-target (with the fragment's out-of-band parts), and while the stream is open that element's own
// polling (hx-trigger="every …") is held back. On a job's log (<pre data-live-poll="URL">) each
// `log` event adds its text before #log-tail. When the stream cannot be had (the server refused it,
// an old browser, a proxy that buffers) the page polls as before.
var liveHeld = {};  // ids of elements whose htmx polling a running stream replaces

document.addEventListener("htmx:beforeRequest", function (event) {
  var elt = event.detail.elt;
  if (elt && elt.id && liveHeld[elt.id]) { event.preventDefault(); }
});

function liveRefresh(id, url) {
  fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.text() : null; })
    .then(function (html) {
      var old = document.getElementById(id);
      if (!html || !old) { return; }
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      var fresh = holder.firstElementChild;
      if (!fresh) { return; }
      var extras = Array.prototype.slice.call(holder.children, 1);
      old.replaceWith(fresh);
      if (window.htmx) { window.htmx.process(fresh); }
      // Parts of the page elsewhere sent along (hx-swap-oob, as htmx's own swaps read it): each
      // replaces the element with its id, as the page's header with its buttons.
      extras.forEach(function (extra) {
        var place = extra.id && extra.hasAttribute("hx-swap-oob") && document.getElementById(extra.id);
        if (!place) { return; }
        extra.removeAttribute("hx-swap-oob");
        place.replaceWith(extra);
        if (window.htmx) { window.htmx.process(extra); }
      });
    })
    .catch(function () {});
}

function startLive(el) {
  if (!window.EventSource) { return; }  // polling stays on
  var target = el.getAttribute("data-live-target");
  var refresh = el.getAttribute("data-live-refresh");
  var poll = el.getAttribute("data-live-poll");
  var held = [target];
  var source = new EventSource(el.getAttribute("data-live"));
  // The log's own poller goes (a removed element polls no more); the fallback makes a new one.
  if (poll) { plainTail(); }
  var ended = false;
  function hold(on) { held.forEach(function (id) { if (id) { liveHeld[id] = on; } }); }
  hold(true);
  source.addEventListener("state", function () { if (target && refresh) { liveRefresh(target, refresh); } });
  source.addEventListener("log", function (event) {
    var data = JSON.parse(event.data);
    var tail = document.getElementById("log-tail");
    if (!tail || Number(tail.getAttribute("data-offset")) !== data.offset) { return; }
    tail.insertAdjacentHTML("beforebegin", data.html);
    tail.setAttribute("data-offset", data.next);
    var follow = document.querySelector(el.getAttribute("data-follow") || "#none");
    if (follow && follow.checked) { el.scrollTop = el.scrollHeight; }
  });
  source.addEventListener("end", function () {
    ended = true;
    source.close();
    hold(false);
    var tail = document.getElementById("log-tail");
    if (tail && poll) { tail.setAttribute("data-done", "1"); }
    if (target && refresh) { liveRefresh(target, refresh); }
  });
  source.addEventListener("error", function () {
    if (ended || source.readyState !== EventSource.CLOSED) { return; }  // the browser reconnects itself
    hold(false);  // refused or gone for good: back to polling
    var tail = document.getElementById("log-tail");
    if (poll && tail && !tail.getAttribute("data-done") && window.htmx) {
      // A poller from where the stream got to.
      var fresh = plainTail();
      fresh.setAttribute("hx-get", poll + "?offset=" + encodeURIComponent(fresh.getAttribute("data-offset")));
      fresh.setAttribute("hx-trigger", "load");
      fresh.setAttribute("hx-swap", "outerHTML");
      window.htmx.process(fresh);
    }
  });
}

function plainTail() {
  var tail = document.getElementById("log-tail");
  var fresh = document.createElement("span");
  fresh.id = "log-tail";
  fresh.setAttribute("data-testid", "log-tail");
  fresh.setAttribute("data-offset", tail.getAttribute("data-offset"));
  tail.replaceWith(fresh);
  return fresh;
}

document.querySelectorAll("[data-live]").forEach(startLive);

// Error summaries (layout.html, formerrors.py): each goes to the top of the form its first linked
// field is in, then is scrolled into view and focused, so a screen reader reads it and the person
// sees every problem at once. A link in it focuses its field.
// The top of a form: of the card body its field is in when the form is a card, after hidden inputs.
function putAtTop(summary, input, form) {
  var body = input.closest(".card-body");
  var host = body && form.contains(body) ? body : form;
  var first = host.firstElementChild;
  while (first && first.matches("input[type=hidden]")) { first = first.nextElementSibling; }
  host.insertBefore(summary, first);
}

// A form written by hand gets its summary here, from its invalid fields (.is-invalid), their labels
// and the messages beside them, in the words of the layout's <template id="taiji-error-summary">.
function handWrittenSummaries() {
  var template = document.getElementById("taiji-error-summary");
  if (!template || document.querySelector("[data-error-summary]")) { return; }
  document.querySelectorAll("form").forEach(function (form) {
    var invalid = form.querySelectorAll(".is-invalid");
    if (!invalid.length) { return; }
    var summary = template.content.firstElementChild.cloneNode(true);
    var list = summary.querySelector("ul");
    invalid.forEach(function (input) {
      var label = input.id ? form.querySelector("label[for='" + input.id + "']") : null;
      var box = input.closest(".mb-3, .form-group, fieldset") || input.parentElement;
      var messages = box ? box.querySelectorAll(".invalid-feedback") : [];
      var item = document.createElement("li");
      item.setAttribute("data-testid", "error-summary-item");
      var name = label ? label.textContent.replace(/\s*\*\s*$/, "").trim() : "";
      if (input.id && name) {
        var link = document.createElement("a");
        link.href = "#" + input.id;
        link.className = "alert-link";
        link.setAttribute("data-field", input.id);
        link.textContent = name;
        item.appendChild(link);
        item.appendChild(document.createTextNode(": "));
      }
      var text = [];
      messages.forEach(function (m) { text.push(m.textContent.trim()); });
      item.appendChild(document.createTextNode(text.join(" ")));
      if (name || text.length) { list.appendChild(item); }
    });
    if (list.children.length) { putAtTop(summary, invalid[0], form); }
  });
}

(function () {
  handWrittenSummaries();
  var summaries = document.querySelectorAll("[data-error-summary]");
  summaries.forEach(function (summary) {
    var link = summary.querySelector("[data-field]");
    var input = link && document.getElementById(link.getAttribute("data-field"));
    var form = input && (input.form || input.closest("form"));
    if (form) { putAtTop(summary, input, form); }
  });
  if (summaries.length) {
    summaries[0].scrollIntoView({ block: "start" });
    summaries[0].focus({ preventScroll: true });
  }
})();

document.addEventListener("click", function (event) {
  var link = event.target.closest("[data-error-summary] a[data-field]");
  if (!link) { return; }
  var input = document.getElementById(link.getAttribute("data-field"));
  if (!input) { return; }
  event.preventDefault();
  input.scrollIntoView({ block: "center" });
  input.focus();
});
