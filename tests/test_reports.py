"""The expertise report: drafts, submission and lock, reopening, transmission, PDF."""

from __future__ import annotations

import html
import io
import re
from datetime import date, timedelta
from typing import Any

import pypdf
import pytest

from labelflow.french import typeset
from tests.conftest import make_user
from tests.factories import (
    YESTERDAY,
    client_for,
    consultant_client,
    create_project,
    decide,
    events,
    fire,
    report_body,
    submit_report,
    unmet_codes,
    walk_to,
)
from tests.test_concurrency import _race


def _url(pid: int, tail: str = "") -> str:
    return f"/api/v1/projects/{pid}/report{tail}"


@pytest.fixture
def at_expertise(client: Any) -> tuple[dict[str, Any], Any]:
    """A project at the expertise step and its assigned consultant's client."""
    project = walk_to(client, create_project(client), "expertise")
    return project, consultant_client(client, project["id"])


def _porteur(client: Any, db: Any, pid: int) -> Any:
    user = make_user(db, role="porteur", name="Paule Porteur")
    r = client.post(f"/api/v1/projects/{pid}/members", json={"user_id": user.id})
    assert r.status_code == 201, r.text
    return client_for(client, user.id or 0)


def _save(consultant: Any, pid: int, body: dict[str, Any], version: int, expect: int = 200) -> Any:
    r = consultant.put(_url(pid), json=body, headers={"If-Match": f'"{version}"'})
    assert r.status_code == expect, r.text
    return r


def test_blank_report_then_drafts_kept_between_visits(at_expertise: Any) -> None:
    project, consultant = at_expertise
    pid = project["id"]
    blank = consultant.get(_url(pid))
    assert blank.status_code == 200
    assert blank.headers["etag"] == '"0"'
    report = blank.json()
    assert report["id"] is None and report["editable"] and report["version"] == 0
    themes = [t["label"] for t in report["themes"]]
    assert themes[0] == "Place des habitants et gouvernance"
    assert "Autonomie" in themes and "Vie associative" in themes
    assert all(c["guidance"] for t in report["themes"] for c in t["criteria"])

    # A partial draft: two criteria, no recommendation yet.
    first_key = report["themes"][0]["criteria"][0]["key"]
    partial = {
        "assessments": {
            first_key: {"assessment": "a_consolider", "comment": "Présidence à confirmer."},
            "autonomie_decision": {"comment": "À revoir après la deuxième visite."},
        },
        "visit_dates": [YESTERDAY],
    }
    saved = _save(consultant, pid, partial, 0).json()
    assert saved["id"] and saved["status"] == "brouillon" and saved["version"] == 1
    again = consultant.get(_url(pid)).json()
    assert again["assessments"][first_key] == {
        "assessment": "a_consolider",
        "comment": "Présidence à confirmer.",
    }
    assert again["assessments"]["autonomie_decision"]["assessment"] is None
    assert again["visit_dates"] == [YESTERDAY]
    assert len(again["missing"]) == len([c for t in report["themes"] for c in t["criteria"]]) - 1

    # Bad values are refused in French and change nothing.
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    bad = [
        ({"visit_dates": [tomorrow]}, "visit_dates"),
        ({"assessments": {"inconnu": {"assessment": "satisfaisant"}}}, "assessments.inconnu"),
        ({"assessments": {first_key: {"assessment": "excellent"}}}, None),
        ({"recommendation": "peut-etre"}, None),
    ]
    for body, field in bad:
        r = _save(consultant, pid, body, 1, expect=422)
        if field:
            assert r.json()["error"]["fields"][0]["field"] == field
    assert consultant.get(_url(pid)).json()["version"] == 1


def test_incomplete_report_refused_at_submission(at_expertise: Any) -> None:
    project, consultant = at_expertise
    pid = project["id"]
    blank = consultant.get(_url(pid)).json()
    body = report_body(blank, skip=("equilibre_marchand", "autonomie_decision"))
    body["recommendation"] = None
    _save(consultant, pid, body, 0)
    r = consultant.post(_url(pid, "/submit"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "rapport_incomplet"
    assert error["missing"] == [
        "Équilibre entre activités marchandes et non marchandes",
        "Autonomie de la Régie vis-à-vis de ses partenaires",
    ]
    assert "Équilibre entre activités marchandes et non marchandes" in error["message"]
    assert "avis d'ensemble" in error["message"]
    fields = {f["field"] for f in error["fields"]}
    assert fields == {
        "assessments.equilibre_marchand",
        "assessments.autonomie_decision",
        "recommendation",
    }
    assert consultant.get(_url(pid)).json()["status"] == "brouillon"


def test_locked_after_submission_reopened_only_by_staff(
    client: Any, db: Any, at_expertise: Any
) -> None:
    project, consultant = at_expertise
    pid = project["id"]
    submitted = submit_report(client, project, assessment="a_consolider")
    assert submitted["status"] == "soumis" and not submitted["editable"]

    # Locked: the consultant can no longer change it nor submit it twice.
    r = _save(consultant, pid, report_body(submitted), submitted["version"], expect=409)
    assert r.json()["error"]["code"] == "rapport_soumis"
    assert consultant.post(_url(pid, "/submit")).status_code == 409

    # Only staff reopen it, with a reason.
    porteur = _porteur(client, db, pid)
    assert consultant.post(_url(pid, "/reopen"), json={"comment": "Je corrige"}).status_code == 403
    assert porteur.post(_url(pid, "/reopen"), json={"comment": "Moi aussi"}).status_code == 403
    r = client.post(_url(pid, "/reopen"), json={"comment": "  "})
    assert r.status_code == 422 and r.json()["error"]["code"] == "commentaire_requis"
    reopened = client.post(
        _url(pid, "/reopen"), json={"comment": "Préciser le modèle économique."}
    ).json()
    assert reopened["status"] == "brouillon" and reopened["revision"] == 2

    # The consultant corrects it and submits again: history keeps both versions.
    body = report_body(reopened, assessment="satisfaisant")
    _save(consultant, pid, body, reopened["version"])
    assert consultant.post(_url(pid, "/submit")).status_code == 200
    versions = client.get(_url(pid, "/versions")).json()
    assert [v["revision"] for v in versions] == [1, 2]
    first_key = next(iter(body["assessments"]))
    assert versions[0]["content"]["assessments"][first_key]["assessment"] == "a_consolider"
    assert versions[1]["content"]["assessments"][first_key]["assessment"] == "satisfaisant"
    assert consultant.get(_url(pid, "/versions")).status_code == 200
    assert porteur.get(_url(pid, "/versions")).status_code == 404  # not transmitted yet

    ops = [e["data"].get("op") for e in events(client, pid) if e["kind"] == "rapport"]
    assert ops == ["brouillon", "soumission", "reouverture", "soumission"]
    reopening = next(e for e in events(client, pid) if e["data"].get("op") == "reouverture")
    assert reopening["comment"] == "Préciser le modèle économique."


def test_only_the_assigned_consultant_writes(client: Any, db: Any, at_expertise: Any) -> None:
    project, _consultant = at_expertise
    pid = project["id"]
    r = client.put(_url(pid), json={"people_met": "L'équipe"})
    assert r.status_code == 403
    other = make_user(db, role="consultant", name="Autre consultant")
    assert client_for(client, other.id or 0).put(_url(pid), json={}).status_code == 404
    assert client.post(_url(pid, "/submit")).status_code == 403


def test_autosave_with_a_stale_version_is_refused(at_expertise: Any) -> None:
    project, consultant = at_expertise
    pid = project["id"]
    v1 = _save(consultant, pid, {"people_met": "Première fenêtre"}, 0)
    assert v1.headers["etag"] == '"1"'
    _save(consultant, pid, {"people_met": "Première fenêtre, suite"}, 1)
    # A second tab still holding version 1 (or the blank form) must not overwrite silently.
    r = _save(consultant, pid, {"people_met": "Seconde fenêtre"}, 1, expect=412)
    assert r.json()["error"]["code"] == "version_perimee"
    assert r.json()["error"]["current_version"] == 2
    _save(consultant, pid, {"people_met": "Formulaire vierge"}, 0, expect=412)
    r = consultant.put(_url(pid), json={}, headers={"If-Match": "pas-une-version"})
    assert r.status_code == 412
    assert consultant.get(_url(pid)).json()["people_met"] == "Première fenêtre, suite"


@pytest.mark.parametrize("if_match", ['"0"', None])
def test_two_first_autosaves_at_once_make_one_draft(
    client: Any, at_expertise: Any, if_match: str | None
) -> None:
    """Two tabs opened on the blank report autosave at the same instant: one draft, and the
    other tab is told to reload (412), with or without the version it was loaded with."""
    project, consultant = at_expertise
    pid = project["id"]
    headers = {"If-Match": if_match} if if_match else {}
    # The tabs loaded the blank form (and so recorded the token's use: the saves below do not
    # touch the token's row, which would queue them one behind the other on PostgreSQL).
    assert consultant.get(_url(pid)).json()["version"] == 0
    responses = _race(
        2,
        lambda i: consultant.put(_url(pid), json={"people_met": f"Fenêtre {i}"}, headers=headers),
    )
    statuses = sorted(r.status_code for r in responses)
    if if_match is None and statuses == [200, 200]:
        # Without If-Match, whichever came second simply saved over the first draft.
        assert [r.json()["version"] for r in responses] in ([1, 2], [2, 1])
    else:
        assert statuses == [200, 412], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 412)
        assert loser.json()["error"]["code"] == "version_perimee"
    saved = consultant.get(_url(pid)).json()
    assert saved["people_met"] in ("Fenêtre 0", "Fenêtre 1")
    drafts = [e for e in events(client, pid) if e["kind"] == "rapport"]
    assert [e["data"]["op"] for e in drafts] == ["brouillon"]


def test_porteur_sees_the_report_only_once_transmitted(
    client: Any, db: Any, at_expertise: Any
) -> None:
    project, _consultant = at_expertise
    pid = project["id"]
    porteur = _porteur(client, db, pid)
    bureau = client_for_role(client, db, "bureau")
    assert porteur.get(_url(pid)).status_code == 404
    submit_report(client, project)
    assert porteur.get(_url(pid)).status_code == 404
    assert porteur.get(_url(pid, ".pdf")).status_code == 404
    page = porteur.get(f"/projects/{pid}")
    assert 'id="rapport"' not in page.text and f"/projects/{pid}/report" not in page.text

    fire(client, pid, "transmettre_bureau")
    seen = porteur.get(_url(pid))
    assert seen.status_code == 200
    assert seen.json()["status"] == "soumis" and seen.json()["transmitted_at"]
    assert not seen.json()["editable"]
    assert porteur.get(_url(pid, ".pdf")).status_code == 200
    assert porteur.get(_url(pid, "/versions")).status_code == 403
    assert bureau.get(_url(pid)).status_code == 200
    page = porteur.get(f"/projects/{pid}")
    assert 'id="rapport"' in page.text and f"/projects/{pid}/report" in page.text
    assert porteur.get(f"/projects/{pid}/report").status_code == 200
    # Transmitted with the project: no more reopening.
    r = client.post(_url(pid, "/reopen"), json={"comment": "Trop tard"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "rapport_transmis"


def client_for_role(client: Any, db: Any, role: str) -> Any:
    return client_for(client, make_user(db, role=role).id or 0)


def test_the_report_criterion_is_met_once_submitted(client: Any, at_expertise: Any) -> None:
    project, consultant = at_expertise
    pid = project["id"]
    assert unmet_codes(project, "transmettre_bureau") == ["rapport_expertise"]
    r = fire(client, pid, "transmettre_bureau", expect=409)
    assert r["error"]["unmet"][0]["code"] == "rapport_expertise"
    assert "pas encore été soumis" in r["error"]["unmet"][0]["message"]

    blank = consultant.get(_url(pid)).json()
    _save(consultant, pid, report_body(blank), 0)
    current = client.get(f"/api/v1/projects/{pid}").json()
    entry = next(a for a in current["actions"] if a["action"] == "transmettre_bureau")
    assert [u["code"] for u in entry["unmet"]] == ["rapport_expertise"]
    assert "en cours de rédaction" in entry["unmet"][0]["message"]

    assert consultant.post(_url(pid, "/submit")).status_code == 200
    assert unmet_codes(client.get(f"/api/v1/projects/{pid}").json(), "transmettre_bureau") == []
    moved = fire(client, pid, "transmettre_bureau")
    assert moved["state"] == "decision_bureau"


def test_ajournement_starts_a_new_report_on_the_next_pass(client: Any) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    pid = project["id"]
    decide(client, pid, "ajournement", "Consolider le modèle économique.")
    fire(client, pid, "ajourner", "Consolider le modèle économique.")
    back = fire(client, pid, "demander_expertise")
    assert back["state"] == "expertise"
    # The first report was transmitted: it does not count for this pass.
    assert unmet_codes(back, "transmettre_bureau") == ["rapport_expertise"]
    consultant = consultant_client(client, pid)
    fresh = consultant.get(_url(pid)).json()
    assert fresh["id"] is None and fresh["version"] == 0
    submit_report(client, back)
    assert fire(client, pid, "transmettre_bureau")["state"] == "decision_bureau"


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", " ", text)


def test_pdf_holds_the_grid_assessments_and_board(client: Any, at_expertise: Any) -> None:
    project, consultant = at_expertise
    pid = project["id"]
    blank = consultant.get(_url(pid)).json()
    body = report_body(blank, recommendation="favorable_avec_reserves")
    body["assessments"]["autonomie_decision"]["assessment"] = "insuffisant"
    _save(consultant, pid, body, 0)
    consultant.post(_url(pid, "/submit"))
    response = client.get(_url(pid, ".pdf"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = _pdf_text(response.content)
    assert "Rapport d'expertise" in text and project["name"] in text
    for theme in blank["themes"]:
        assert theme["label"] in text
        for criterion in theme["criteria"]:
            assert " ".join(criterion["label"].split()) in text, criterion["label"]
    assert "Satisfaisant" in text and "Insuffisant" in text
    assert "Favorable avec réserves" in text
    assert "Claire Martin" in text  # the consultant
    # The board composition recorded by complete_prefiguration: 3 habitants out of 5.
    assert "5 membres dont 3 habitants" in text
    assert "Habitants : 3" in text and "Bailleur social : 1" in text  # spaces read as spaces


def test_governance_criterion_shows_the_board_composition(client: Any, at_expertise: Any) -> None:
    project, consultant = at_expertise
    pid = project["id"]
    report = consultant.get(_url(pid)).json()
    governance = report["themes"][0]["criteria"][0]
    assert governance["shows"] == "board"
    assert sum(1 for t in report["themes"] for c in t["criteria"] if c["shows"] == "board") == 1
    board = report["board"]
    assert board["members"] == 5 and board["habitants_majority"] and board["habitant_president"]
    counts = {c["college"]: c["count"] for c in board["colleges"]}
    assert counts == {"habitants": 3, "collectivite": 1, "bailleur": 1}
    # A new board member changes what the consultant sees (computed, never stored).
    r = client.post(
        f"/api/v1/projects/{pid}/board-members",
        json={"name": "Nouvelle élue", "college": "collectivite"},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/projects/{pid}/board-members",
        json={"name": "Représentant du bailleur", "college": "bailleur"},
    )
    board = consultant.get(_url(pid)).json()["board"]
    assert board["members"] == 7 and not board["habitants_majority"]
    page = consultant.get(f"/projects/{pid}/report")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Composition du conseil d'administration enregistrée" in text
    assert "7 membres dont 3 habitants" in text
    assert "Pas de majorité d'habitants" in text


def test_report_form_without_javascript(client: Any, db: Any, at_expertise: Any) -> None:
    """The page form saves drafts and submits; a refused submission keeps what was typed."""
    project, consultant = at_expertise
    pid = project["id"]
    from labelflow import accounts
    from labelflow.db import transaction
    from labelflow.models import User

    user_id = consultant.get("/api/v1/me").json()["id"]
    with transaction(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        opened = accounts.open_session(session, user=user, settings=client.app.state.settings)
    from fastapi.testclient import TestClient

    browser = TestClient(client.app, follow_redirects=False)
    browser.cookies.set("labelflow_session", opened.raw_token)
    csrf = opened.record.csrf_token
    page = browser.get(f"/projects/{pid}/report")
    assert page.status_code == 200
    assert f'<meta name="csrf-token" content="{csrf}">' in page.text
    assert 'src="/static/report.js"' in page.text and "<script>" not in page.text
    blank = consultant.get(_url(pid)).json()
    form: dict[str, Any] = {"csrf_token": csrf, "version": "0", "intent": "save"}
    form["a__majorite_presidence_habitants"] = "satisfaisant"
    form["c__majorite_presidence_habitants"] = "Présidente élue en juin."
    form["visit_dates"] = [YESTERDAY, ""]
    saved = browser.post(f"/projects/{pid}/report", data=form)
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("fait=enregistre")
    report = consultant.get(_url(pid)).json()
    assert report["version"] == 1 and report["visit_dates"] == [YESTERDAY]

    # Submitting asks first (no JavaScript here): the draft is saved, the same form is asked
    # again at the version just saved, with a confirmation naming the consequence.
    form.update(version="1", intent="submit", people_met="Le trésorier")
    asked = browser.post(f"/projects/{pid}/report", data=form)
    assert asked.status_code == 200
    text = html.unescape(asked.text)
    assert typeset("Confirmer : soumettre le rapport d'expertise") in text
    assert "vous ne pourrez plus le modifier" in text
    assert 'name="version" value="2"' in text and 'name="people_met" value="Le trésorier"' in text
    assert f'href="/projects/{pid}/report">Annuler' in text
    assert consultant.get(_url(pid)).json()["people_met"] == "Le trésorier"
    assert consultant.get(_url(pid)).json()["status"] == "brouillon"

    # Confirmed, but incomplete: refused, the typed comment kept, the draft saved.
    form.update(version="2", confirm="1")
    refused = browser.post(f"/projects/{pid}/report", data=form)
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "le rapport n'est pas soumis" in text
    assert typeset("Critère non évalué : Autonomie de la Régie") in text
    assert "Présidente élue en juin." in text
    assert consultant.get(_url(pid)).json()["people_met"] == "Le trésorier"

    # Complete: every criterion, a recommendation.
    full = report_body(blank)
    for key, value in full["assessments"].items():
        form[f"a__{key}"] = value["assessment"]
    form.update(version=str(consultant.get(_url(pid)).json()["version"]))
    form.update(recommendation="favorable")
    done = browser.post(f"/projects/{pid}/report", data=form)
    assert done.status_code == 303, done.text
    locked = browser.get(f"/projects/{pid}/report")
    assert "Soumis le" in locked.text and 'id="rapport-form"' not in locked.text
    assert "report.js" not in locked.text


def test_the_transmitted_report_is_kept_with_the_project_as_pdf(
    client: Any, at_expertise: Any
) -> None:
    project, consultant = at_expertise
    pid = project["id"]
    blank = consultant.get(_url(pid)).json()
    _save(consultant, pid, report_body(blank, recommendation="favorable"), 0)
    assert consultant.post(_url(pid, "/submit")).status_code == 200
    kept = [
        d
        for d in client.get(f"/api/v1/projects/{pid}/documents").json()
        if d["media_type"] == "application/pdf" and d["filename"].startswith("rapport-")
    ]
    assert kept == []  # submitted, not yet transmitted

    fire(client, pid, "transmettre_bureau")
    kept = [
        d
        for d in client.get(f"/api/v1/projects/{pid}/documents").json()
        if d["filename"].startswith("rapport-expertise-")
    ]
    assert len(kept) == 1 and kept[0]["type"] == "rapport_expertise"
    content = client.get(kept[0]["download_url"]).content
    text = _pdf_text(content)
    assert "Rapport d'expertise" in text and project["name"] in text
    assert "Favorable" in text
