// Autosave of the expertise report's draft: the form is sent as JSON to the API
// (PUT /api/v1/projects/{id}/report, If-Match: the report version) every few seconds while it
// changes and whenever a field is left. Without this script the form's buttons save it.
(function () {
  "use strict";
  var form = document.getElementById("rapport-form");
  var status = document.getElementById("autosave-status");
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!form || !status || !meta || !window.fetch || !window.FormData) return;

  var INTERVAL_MS = 4000;
  var version = form.querySelector('input[name="version"]');
  var missing = document.getElementById("missing-count");
  var state = document.getElementById("report-state");
  var dirty = false;
  var saving = false;
  var stopped = false;
  var pendingSubmit = null;

  function say(text, kind) {
    status.textContent = text;
    status.className = "autosave small autosave--" + (kind || "info");
  }

  function hhmm() {
    // Times are shown in Paris time everywhere, whatever the computer's time zone.
    return new Date().toLocaleTimeString("fr-FR", {
      hour: "2-digit", minute: "2-digit", timeZone: "Europe/Paris"
    });
  }

  function body() {
    var data = new FormData(form);
    var assessments = {};
    data.forEach(function (value, key) {
      var match = /^(a|c)__(.+)$/.exec(key);
      if (!match) return;
      var entry = assessments[match[2]] || (assessments[match[2]] = { assessment: null, comment: "" });
      if (match[1] === "a") entry.assessment = value || null;
      else entry.comment = value;
    });
    return {
      assessments: assessments,
      visit_dates: data.getAll("visit_dates").filter(function (d) { return d; }),
      people_met: data.get("people_met") || null,
      recommendation: data.get("recommendation") || null,
      recommendations_text: data.get("recommendations_text") || null
    };
  }

  function errorMessage(json, fallback) {
    return (json && json.error && json.error.message) || fallback;
  }

  function showMissing(labels) {
    if (!missing || !labels) return;
    missing.textContent = labels.length
      ? "Encore " + labels.length + " critère" + (labels.length > 1 ? "s" : "") +
        " à évaluer avant de pouvoir soumettre."
      : "Tous les critères sont évalués.";
  }

  function send(keepalive) {
    return fetch(form.getAttribute("data-api"), {
      method: "PUT",
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": meta.getAttribute("content"),
        "If-Match": '"' + version.value + '"'
      },
      body: JSON.stringify(body())
    });
  }

  function finish() {
    saving = false;
    // Typed while the last save was under way: save that too now, not at the next tick.
    if (dirty && !stopped && !pendingSubmit) {
      save(false);
      return;
    }
    if (pendingSubmit) {
      var button = pendingSubmit;
      pendingSubmit = null;
      if (form.requestSubmit) form.requestSubmit(button); else form.submit();
    }
  }

  function save(keepalive) {
    if (saving || stopped || !dirty) return;
    saving = true;
    dirty = false;
    say("Enregistrement du brouillon…");
    send(keepalive)
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (json) {
          if (response.ok && json) {
            version.value = json.version;
            form.setAttribute("data-version", json.version);
            say("Brouillon enregistré à " + hhmm() + ".", "ok");
            if (state) state.innerHTML = '<span class="badge badge--warning">Brouillon</span>';
            showMissing(json.missing);
          } else if (response.status === 412) {
            stopped = true;
            say("Ce rapport a été modifié entre-temps (dans une autre fenêtre ou par quelqu'un " +
                "d'autre) : vos dernières saisies ne sont pas enregistrées. Rechargez la page " +
                "pour reprendre la version la plus récente.", "conflict");
          } else if (response.status === 409 || response.status === 403 || response.status === 404) {
            stopped = true;
            say(errorMessage(json, "Le rapport ne peut plus être modifié.") +
                " Rechargez la page.", "conflict");
          } else if (response.status === 422) {
            say("Brouillon non enregistré : " +
                errorMessage(json, "une valeur est invalide.") +
                (json && json.error && json.error.fields && json.error.fields[0]
                  ? " (" + json.error.fields[0].message + ")" : ""), "error");
          } else {
            dirty = true;
            say("Enregistrement impossible pour le moment : nouvel essai dans quelques secondes.",
                "error");
          }
        });
      })
      .catch(function () {
        dirty = true;
        say("Connexion interrompue : le brouillon sera enregistré dès son retour.", "error");
      })
      .then(finish, finish);
  }

  form.addEventListener("input", function () { dirty = true; });
  // "change" fires when a field is left after an edit, and at once for radio buttons.
  form.addEventListener("change", function () { dirty = true; save(false); });
  form.addEventListener("submit", function (event) {
    // The buttons post the form itself: wait for a save under way, so its version is sent.
    if (saving) {
      event.preventDefault();
      pendingSubmit = event.submitter || null;
      return;
    }
    stopped = true;
  });
  document.addEventListener("visibilitychange", function () {
    // Leaving the page or the tab: save now (keepalive lets the request outlive the page).
    if (document.visibilityState === "hidden") save(true);
  });
  window.setInterval(function () { save(false); }, INTERVAL_MS);
})();
