// htmx requests carry the CSRF token from the page (see hx-headers on <body>).
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("htmx-error");
  if (box) { box.textContent = event.detail.xhr.statusText || "Error"; box.classList.remove("d-none"); }
});
