// Irreversible actions ask first: a form (or its submit button) carrying data-confirm opens the
// page's <dialog> naming the consequence; « Confirmer » submits it with confirm=1. Without this
// script the server answers a confirmation page instead (labelflow.web.confirm).
(function () {
  "use strict";
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;
  var titleEl = document.getElementById("confirm-dialog-title");
  var textEl = document.getElementById("confirm-dialog-text");
  var okButton = dialog.querySelector("[data-confirm-ok]");
  var cancelButton = dialog.querySelector("[data-confirm-cancel]");
  var pending = null;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter || null;
    var source = submitter && submitter.hasAttribute("data-confirm") ? submitter : form;
    if (!source.hasAttribute || !source.hasAttribute("data-confirm")) return;
    if (form.querySelector("input[name=confirm][value='1']")) return;
    event.preventDefault();
    pending = { form: form, submitter: submitter };
    titleEl.textContent = "Confirmer : " + (source.getAttribute("data-confirm-title") || "");
    textEl.textContent = source.getAttribute("data-confirm");
    dialog.showModal();
    cancelButton.focus();
  });

  cancelButton.addEventListener("click", function () {
    pending = null;
    dialog.close();
  });
  dialog.addEventListener("close", function () {
    pending = null;
  });

  okButton.addEventListener("click", function () {
    if (!pending) return;
    var form = pending.form;
    var submitter = pending.submitter;
    var confirmInput = document.createElement("input");
    confirmInput.type = "hidden";
    confirmInput.name = "confirm";
    confirmInput.value = "1";
    form.appendChild(confirmInput);
    dialog.close();
    if (submitter && typeof form.requestSubmit === "function") {
      form.requestSubmit(submitter);
    } else {
      form.submit();
    }
  });
})();
