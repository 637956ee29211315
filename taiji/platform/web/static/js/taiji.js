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
    if (source && navigator.clipboard) { navigator.clipboard.writeText(source.value); }
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
