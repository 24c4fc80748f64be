"""The Bureau: meetings, recusals, quorum, votes, decisions and their consequences (label
number, network membership, decision letters), on the real app and database."""

from __future__ import annotations

import io
import re
import threading
from datetime import date, timedelta
from html import unescape
from typing import Any

import pypdf
import pytest
from sqlalchemy import Engine

from labelflow.french import NBSP, NNBSP, typeset
from labelflow.models import User
from tests.conftest import make_user
from tests.factories import (
    bureau_members,
    create_project,
    create_user,
    decide,
    events,
    fire,
    hold_meeting,
    today,
    walk_to,
)


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]  # type: ignore[no-any-return]


def at_bureau(client: Any, **overrides: Any) -> dict[str, Any]:
    return walk_to(client, create_project(client, **overrides), "decision_bureau")


def bureau_user(db: Engine, name: str) -> User:
    return make_user(db, role="bureau", name=name)


def _decision_body(
    meeting: dict[str, Any], outcome: str, votes: dict[int, str], **extra: Any
) -> Any:
    return {
        "meeting_id": meeting["id"],
        "outcome": outcome,
        "votes": [{"user_id": uid, "vote": vote} for uid, vote in votes.items()],
        **extra,
    }


def pdf_text(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    # Line breaks fall anywhere in running text: compare on single spaces.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def letters(client: Any, pid: int) -> list[dict[str, Any]]:
    docs = client.get(f"/api/v1/projects/{pid}/documents").json()
    return [d for d in docs if d["type"] == "courrier_decision"]


# --- meetings ---------------------------------------------------------------------------------


def test_meeting_records_who_was_there(client: Any, db: Engine, client_as: Any) -> None:
    a, b, c = (bureau_user(db, n) for n in ("Anne Bureau", "Bruno Bureau", "Chloé Bureau"))
    consultant = create_user(client, "consultant")
    tomorrow = (date.fromisoformat(today()) + timedelta(days=1)).isoformat()
    url = "/api/v1/bureau/meetings"
    cases = [
        ({"held_on": tomorrow, "attendee_ids": [a.id], "chair_id": a.id}, "held_on"),
        ({"held_on": today(), "attendee_ids": [], "chair_id": a.id}, "attendee_ids"),
        (
            {"held_on": today(), "attendee_ids": [a.id, consultant["id"]], "chair_id": a.id},
            "attendee_ids",
        ),
        ({"held_on": today(), "attendee_ids": [a.id, b.id], "chair_id": c.id}, "chair_id"),
    ]
    for body, field in cases:
        error = _error(client.post(url, json=body), 422)
        assert error["fields"][0]["field"] == field, error
    assert client.get(url).json() == []

    response = client.post(
        url, json={"held_on": today(), "attendee_ids": [a.id, b.id], "chair_id": b.id}
    )
    meeting = response.json()
    assert response.status_code == 201 and response.headers["Location"].endswith(
        f"/{meeting['id']}"
    )
    assert meeting["bureau_size"] == 3  # the Bureau that day, the base of the quorum
    assert meeting["chair"]["name"] == "Bruno Bureau"
    assert [p["name"] for p in meeting["attendees"]] == ["Anne Bureau", "Bruno Bureau"]
    # A Bureau member reads the meetings; a porteur does not; only staff record them.
    member = client_as(c)
    assert member.get(f"{url}/{meeting['id']}").json()["id"] == meeting["id"]
    assert member.post(url, json={}).status_code == 403
    porteur = client_as(make_user(db, role="porteur"))
    assert porteur.get(url).status_code == 403
    assert client.get(f"{url}/999999").status_code == 404


# --- quorum and recusals ----------------------------------------------------------------------


def test_quorum_counts_present_members_who_are_not_recused(
    client: Any, db: Engine, client_as: Any
) -> None:
    project = at_bureau(client)
    pid = project["id"]
    a, b, c, d = (bureau_user(db, n) for n in ("Anne", "Bruno", "Chloé", "Driss"))
    ids = [u.id for u in (a, b, c, d)]

    # Two present out of four: not more than half.
    two = hold_meeting(client, present=[a.id, b.id])
    votes = {a.id: "pour", b.id: "pour"}
    response = client.post(
        f"/api/v1/projects/{pid}/decisions", json=_decision_body(two, "attribution", votes)
    )
    error = _error(response, 409)
    assert error["code"] == "quorum_non_atteint"
    assert error["message"].startswith(
        typeset("Quorum non atteint : 2 présents sur 4 membres non déportés du Bureau")
    )
    assert (error["present"], error["members"], error["required"]) == (2, 4, 3)
    assert client.get(f"/api/v1/projects/{pid}/decisions").json() == []

    # Driss, absent, withdraws: two present out of three non-recused members is a quorum.
    r = client_as(d).post(
        f"/api/v1/projects/{pid}/recusals", json={"reason": "Administrateur du bailleur."}
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Driss" and r.json()["current"] is True
    decision = decide(client, pid, "attribution", meeting=two, votes=None)
    assert (decision["votes_for"], decision["votes_against"]) == (2, 0)

    # A recused member who attends does not count among those present.
    other = at_bureau(client, name="Régie des Hauts")
    three = hold_meeting(client, present=ids[:3])
    r = client.post(
        f"/api/v1/projects/{other['id']}/recusals",
        json={"user_id": a.id, "reason": "Élue de la commune."},
    )
    assert r.status_code == 201, r.text
    # Present and not recused: Bruno and Chloé, 2 out of 3 non-recused members.
    ok = decide(client, other["id"], "refus", "Modèle économique fragile.", meeting=three)
    assert ok["votes_against"] == 2
    recusals = client.get(f"/api/v1/projects/{other['id']}/recusals").json()
    assert [(x["name"], x["current"]) for x in recusals] == [("Anne", True)]


def test_quorum_fraction_is_a_setting(client: Any, db: Engine, app: Any) -> None:
    project = at_bureau(client)
    members = bureau_members(client, 4)
    meeting = hold_meeting(client, present=[u["id"] for u in members[:3]])
    settings = app.state.settings
    before = settings.bureau_quorum_fraction
    settings.bureau_quorum_fraction = 0.75  # more than three quarters: 4 of 4
    try:
        error = decide(client, project["id"], "attribution", meeting=meeting, expect=409)
        assert "il en faut au moins 4" in error["error"]["message"]
    finally:
        settings.bureau_quorum_fraction = before
    decide(client, project["id"], "attribution", meeting=meeting)


def test_a_recused_members_vote_is_refused(client: Any, db: Engine, client_as: Any) -> None:
    project = at_bureau(client)
    pid = project["id"]
    a, b, c = (bureau_user(db, n) for n in ("Anne Martin", "Bruno Petit", "Chloé Roy"))
    url = f"/api/v1/projects/{pid}/recusals"
    member = client_as(c)
    # Their own recusal only, with a reason; once per pass.
    assert member.post(url, json={"user_id": a.id, "reason": "x"}).status_code == 403
    assert _error(member.post(url, json={"reason": "  "}), 422)["fields"][0]["field"] == "reason"
    assert member.post(url, json={"reason": "Je siège au CA du bailleur."}).status_code == 201
    assert _error(member.post(url, json={"reason": "Encore."}), 409)["code"] == "deport_existant"
    # Staff declare on behalf of a member, never of another kind of account.
    error = _error(client.post(url, json={"reason": "x"}), 422)
    assert error["fields"][0]["field"] == "user_id"
    porteur = create_user(client, "porteur")
    assert _error(client.post(url, json={"user_id": porteur["id"], "reason": "x"}), 422)

    meeting = hold_meeting(client, present=[a.id, b.id, c.id])
    before = client.get(f"/api/v1/projects/{pid}").json()["version"]
    votes = {a.id: "pour", b.id: "pour", c.id: "pour"}
    response = client.post(
        f"/api/v1/projects/{pid}/decisions", json=_decision_body(meeting, "attribution", votes)
    )
    error = _error(response, 422)
    assert error["code"] == "membre_deporte"
    assert error["message"] == typeset(
        "Chloé Roy s'est déporté·e sur ce dossier : son vote ne peut pas être enregistré."
    )
    assert error["fields"][0]["field"] == "votes"
    assert client.get(f"/api/v1/projects/{pid}/decisions").json() == []
    assert client.get(f"/api/v1/projects/{pid}").json()["version"] == before
    # Without it, the decision stands: two present non-recused members out of two.
    del votes[c.id]
    response = client.post(
        f"/api/v1/projects/{pid}/decisions", json=_decision_body(meeting, "attribution", votes)
    )
    assert response.status_code == 201, response.text
    kinds = [e["kind"] for e in events(client, pid)]
    assert kinds.count("deport") == 1 and kinds[-1] == "decision"


def test_votes_come_from_present_members_and_each_of_them_votes(client: Any, db: Engine) -> None:
    project = at_bureau(client)
    pid = project["id"]
    a, b, c = (bureau_user(db, n) for n in ("Anne", "Bruno", "Chloé"))
    meeting = hold_meeting(client, present=[a.id, b.id])
    url = f"/api/v1/projects/{pid}/decisions"
    absent = _decision_body(meeting, "attribution", {a.id: "pour", b.id: "pour", c.id: "pour"})
    error = _error(client.post(url, json=absent), 422)
    assert "Chloé n'y étai(en)t pas" in error["message"]
    missing = _decision_body(meeting, "attribution", {a.id: "pour"})
    error = _error(client.post(url, json=missing), 422)
    assert error["message"].endswith("il manque celui de Bruno.")
    twice = {
        "meeting_id": meeting["id"],
        "outcome": "attribution",
        "votes": [{"user_id": a.id, "vote": "pour"}] * 2 + [{"user_id": b.id, "vote": "pour"}],
    }
    assert "plusieurs fois" in _error(client.post(url, json=twice), 422)["message"]
    unknown = {**twice, "meeting_id": 999999}
    assert _error(client.post(url, json=unknown), 422)["fields"][0]["field"] == "meeting_id"
    bad_vote = {**twice, "votes": [{"user_id": a.id, "vote": "peut-être"}]}
    assert _error(client.post(url, json=bad_vote), 422)["fields"][0]["field"].startswith("votes")
    assert client.get(url).json() == []


@pytest.mark.parametrize(
    ("outcome", "votes", "allowed"),
    [
        ("attribution", ["pour", "pour", "contre"], True),
        ("attribution", ["pour", "contre", "abstention"], False),  # a tie
        ("attribution", ["contre", "contre", "pour"], False),
        ("refus", ["contre", "contre", "pour"], True),
        ("refus", ["pour", "abstention", "abstention"], False),
        ("ajournement", ["pour", "pour", "pour"], True),
        ("ajournement", ["contre", "abstention", "pour"], True),
    ],
)
def test_the_outcome_must_follow_the_vote(
    client: Any, outcome: str, votes: list[str], allowed: bool
) -> None:
    project = at_bureau(client)
    members = bureau_members(client)
    meeting = hold_meeting(client)
    body = _decision_body(
        meeting,
        outcome,
        {u["id"]: v for u, v in zip(members, votes, strict=True)},
        motivation="Renforcer la place des habitants." if outcome != "attribution" else None,
    )
    response = client.post(f"/api/v1/projects/{project['id']}/decisions", json=body)
    if allowed:
        assert response.status_code == 201, response.text
        return
    error = _error(response, 422)
    assert error["code"] == "decision_contraire_au_vote"
    assert "contredit le vote" in error["message"]
    assert client.get(f"/api/v1/projects/{project['id']}/decisions").json() == []


# --- consequences -----------------------------------------------------------------------------


def test_attribution_gives_a_number_a_date_membership_and_a_letter(client: Any) -> None:
    year = date.fromisoformat(today()).year
    first = at_bureau(client)
    decide(client, first["id"], "attribution", "Consolider les marchés publics.")
    labelled = fire(client, first["id"], "attribuer_label")
    assert labelled["label_number"] == f"RQ-{year}-001"
    assert re.fullmatch(r"R[QT]-\d{4}-\d{3}", labelled["label_number"])
    assert labelled["label_date"] == today()
    assert labelled["network_member_since"] == today()
    # The page shows the outcome as a success: the label was granted.
    page = client.get(f"/projects/{first['id']}").text
    assert f'<span class="badge badge--success">{labelled["state_label"]}</span>' in page

    second = at_bureau(client, name="Régie du Blosne")
    decide(client, second["id"], "attribution")
    assert fire(client, second["id"], "attribuer_label")["label_number"] == f"RQ-{year}-002"
    # Each prefix counts on its own.
    territoire = at_bureau(client, kind="territoire")
    decide(client, territoire["id"], "attribution")
    assert fire(client, territoire["id"], "attribuer_label")["label_number"] == f"RT-{year}-001"

    (letter,) = letters(client, first["id"])
    assert letter["type_label"] == "Courrier de décision du Bureau"
    assert letter["media_type"] == "application/pdf"
    assert letter["filename"] == f"courrier-decision-attribution-RQ-{year}-001.pdf"
    text = pdf_text(client, letter["download_url"])
    for expected in (
        f"RQ-{year}-001",
        "Régie de quartier de l'Alma",
        "Roubaix",
        "a décidé de vous attribuer le label « Régie de Quartier »",
        "membre du réseau",
        "Consolider les marchés publics.",
        "Pour le Bureau du Mouvement des Régies",
    ):
        assert expected in text, (expected, text)
    from labelflow import dates

    assert dates.french_date(date.fromisoformat(today())) in text
    # Content-addressed like every document, and in the history.
    assert len(letter["sha256"]) == 64
    last = events(client, first["id"])[-1]
    assert last["kind"] == "document" and last["data"]["type"] == "courrier_decision"


def test_refusal_and_deferral_letters_carry_the_motivation_to_the_porteur(
    client: Any, db: Engine, client_as: Any
) -> None:
    refused = at_bureau(client)
    porteur = make_user(db, role="porteur", name="Paule Porteur")
    r = client.post(f"/api/v1/projects/{refused['id']}/members", json={"user_id": porteur.id})
    assert r.status_code == 201, r.text
    browser = client_as(porteur)
    motivation = "Le modèle économique repose trop sur les contrats aidés."
    decide(client, refused["id"], "refus", motivation)
    project = fire(client, refused["id"], "refuser_label", motivation)
    assert project["label_number"] is None and project["network_member_since"] is None
    # A closed project without a label: its outcome is shown muted, on its page and hers.
    muted = f'<span class="badge badge--muted">{project["state_label"]}</span>'
    assert muted in client.get(f"/projects/{refused['id']}").text
    assert muted in browser.get(f"/projects/{refused['id']}").text
    (letter,) = letters(client, refused["id"])
    text = pdf_text(browser, letter["download_url"])
    assert "de ne pas vous attribuer le label" in text
    assert motivation in text and "Paule Porteur" in text
    page = unescape(browser.get(f"/projects/{refused['id']}").text)
    assert "Motivation du Bureau" in page and motivation in page
    assert f'href="{letter["download_url"]}"' in page

    deferred = at_bureau(client, name="Régie de la Plaine")
    r = client.post(f"/api/v1/projects/{deferred['id']}/members", json={"user_id": porteur.id})
    assert r.status_code == 201, r.text
    advice = "Élargir le conseil d'administration aux habitants du quartier."
    decide(client, deferred["id"], "ajournement", advice)
    assert fire(client, deferred["id"], "ajourner", advice)["state"] == "prefiguration"
    (letter,) = letters(client, deferred["id"])
    text = pdf_text(client, letter["download_url"])
    assert "d'ajourner sa décision" in text and advice in text
    page = unescape(browser.get(f"/projects/{deferred['id']}").text)
    assert "Recommandations du Bureau" in page and advice in page


def test_label_numbers_are_unique_under_concurrent_decisions(client: Any) -> None:
    count = 6
    year = date.fromisoformat(today()).year
    pids = []
    for i in range(count):
        project = at_bureau(client, name=f"Régie concurrente {i}")
        decide(client, project["id"], "attribution")
        pids.append(project["id"])
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = client.post(
                f"/api/v1/projects/{pids[i]}/transitions", json={"action": "attribuer_label"}
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(getattr(r, "status_code", None) == 200 for r in results), results
    numbers = sorted(r.json()["label_number"] for r in results)
    assert numbers == [f"RQ-{year}-{n:03d}" for n in range(1, count + 1)]
    # Each letter names its own number.
    for pid in pids:
        project = client.get(f"/api/v1/projects/{pid}").json()
        (letter,) = letters(client, pid)
        assert project["label_number"] in pdf_text(client, letter["download_url"])


# --- what the Bureau reads --------------------------------------------------------------------


def test_agenda_and_recusal_from_the_pages(
    client: Any, db: Engine, client_as: Any, app: Any
) -> None:
    project = at_bureau(client)
    earlier = create_project(client, name="Régie pas encore prête")
    member = bureau_user(db, "Anne Bureau")
    browser = client_as(member)
    agenda = browser.get("/api/v1/bureau/agenda").json()
    assert [item["project"]["id"] for item in agenda] == [project["id"]]
    (item,) = agenda
    assert item["board_summary"].startswith("5 membres dont 3 habitants")
    assert item["documents"] and item["recusals"] == [] and item["decisions"] == []
    assert item["report_url"] == f"/api/v1/projects/{project['id']}/report.pdf"
    page = unescape(browser.get("/").text)
    assert "<h1>Dossiers du Bureau</h1>" in page
    assert project["name"] in page and earlier["name"] not in page
    assert "Conseil d'administration" in page and "Déclarer mon déport" in page

    from tests.test_access_matrix import open_web_session

    cookie, csrf = open_web_session(db, app.state.settings, member)
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as web:
        web.headers["Cookie"] = f"labelflow_session={cookie}"
        refused = web.post(
            f"/projects/{project['id']}/recusals",
            data={"csrf_token": csrf, "return_to": "bureau", "reason": "", "confirm": "1"},
        )
        assert refused.status_code == 422
        text = unescape(refused.text)
        assert "Certaines valeurs sont manquantes" in text and "Ce champ est obligatoire." in text
        done = web.post(
            f"/projects/{project['id']}/recusals",
            data={
                "csrf_token": csrf,
                "return_to": "bureau",
                "reason": "Élue de la commune.",
                "confirm": "1",
            },
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/bureau?fait=deport_declare#dossier-{project['id']}"
        page = unescape(web.get(done.headers["location"]).text)
        assert "Vous ne prenez pas part à la délibération" in page
        assert '<div class="alert alert--success" role="status"><p>Déport déclaré.</p>' in page
        assert "Déport déclaré." not in unescape(web.get("/bureau?fait=inconnu").text)
    # Staff see the recusal on the decision form: that member cannot vote.
    staff_page = unescape(client.get(f"/projects/{project['id']}").text)
    assert typeset("Déporté·e : ne vote pas") in staff_page and "Élue de la commune." in staff_page
    # A deliberation recorded shows on the agenda by its French name, not its key.
    decide(client, project["id"], "refus", motivation="Le modèle économique reste fragile.")
    page = unescape(browser.get("/").text)
    assert typeset("Délibération enregistrée : <strong>refus du label</strong>") in page


def test_staff_record_a_meeting_from_the_page(client: Any, db: Engine, app: Any) -> None:
    a, b = bureau_user(db, "Anne Bureau"), bureau_user(db, "Bruno Bureau")
    staff = make_user(db, role="staff", name="Sacha Staff")
    from fastapi.testclient import TestClient

    from tests.test_access_matrix import open_web_session

    cookie, csrf = open_web_session(db, app.state.settings, staff)
    with TestClient(app, follow_redirects=False) as web:
        web.headers["Cookie"] = f"labelflow_session={cookie}"
        page = unescape(web.get("/bureau/meetings").text)
        assert 'name="attendee_ids"' in page and "Anne Bureau" in page
        refused = web.post(
            "/bureau/meetings",
            data={"csrf_token": csrf, "held_on": today(), "attendee_ids": [str(a.id)],
                  "chair_id": str(b.id)},
        )  # fmt: skip
        assert refused.status_code == 422
        text = unescape(refused.text)
        assert "La présidence de séance revient à l'un des membres présents." in text
        assert f'value="{a.id}" checked' in text  # what was ticked stays ticked
        done = web.post(
            "/bureau/meetings",
            data={"csrf_token": csrf, "held_on": today(), "attendee_ids": [str(a.id), str(b.id)],
                  "chair_id": str(b.id)},
        )  # fmt: skip
        assert done.status_code == 303
    (meeting,) = client.get("/api/v1/bureau/meetings").json()
    assert meeting["chair"]["name"] == "Bruno Bureau" and len(meeting["attendees"]) == 2
    assert done.headers["location"] == f"/bureau/meetings#reunion-{meeting['id']}"


def test_decision_needs_the_bureau_step(client: Any) -> None:
    project = create_project(client)
    meeting = hold_meeting(client)
    error = decide(client, project["id"], "attribution", meeting=meeting, votes=[], expect=409)
    assert error["error"]["code"] == "etape_incorrecte"
    r = client.post(
        f"/api/v1/projects/{project['id']}/recusals",
        json={"user_id": meeting["attendees"][0]["user_id"], "reason": "x"},
    )
    assert _error(r, 409)["code"] == "etape_incorrecte"


# --- every problem of a deliberation at once ----------------------------------------------------


def _short_of_quorum(client: Any, db: Engine) -> tuple[dict[str, Any], dict[str, Any], list[User]]:
    """A project at the Bureau and a meeting where two of its four members sat: no quorum."""
    project = at_bureau(client)
    members = [bureau_user(db, n) for n in ("Anne", "Bruno", "Chloé", "Driss")]
    meeting = hold_meeting(client, present=[members[0].id or 0, members[1].id or 0])
    return project, meeting, members


# As the API says them (typeset); the page tests read them with plain spaces.
QUORUM_2_OF_4 = typeset(
    "Quorum non atteint : 2 présents sur 4 membres non déportés du Bureau ; il en faut au moins 3."
)
BRUNO_MISSING = typeset(
    "Indiquez le vote (pour, contre ou abstention) de chaque membre présent et non déporté : "
    "il manque celui de Bruno."
)
MOTIVATION_REQUIRED = typeset(
    "La motivation est requise pour un refus ou un ajournement "
    "(pour un ajournement : les recommandations du Bureau)."
)


def plain(text: str) -> str:
    """A typeset sentence as `tests.test_forms.page_text` reads it: no-break spaces as plain."""
    return text.replace(NBSP, " ").replace(NNBSP, " ")


def test_the_api_answers_every_problem_of_a_deliberation_at_once(client: Any, db: Engine) -> None:
    project, meeting, (anne, bruno, *_) = _short_of_quorum(client, db)
    pid = project["id"]
    url = f"/api/v1/projects/{pid}/decisions"
    before = client.get(f"/api/v1/projects/{pid}").json()["version"]

    # Two field problems (a present member's vote, the motivation of a refusal) and no quorum:
    # a 422 listing both fields, the quorum named beside them.
    body = _decision_body(meeting, "refus", {anne.id or 0: "contre"})
    error = _error(client.post(url, json=body), 422)
    assert error["code"] == "requete_invalide"
    assert error["message"] == "Certaines valeurs sont manquantes ou invalides."
    assert error["fields"] == [
        {"field": "votes", "message": BRUNO_MISSING},
        {"field": "motivation", "message": MOTIVATION_REQUIRED},
    ]
    assert error["problems"] == [{"code": "quorum_non_atteint", "message": QUORUM_2_OF_4}]

    # One field problem: that one, with its own code, the quorum still beside it.
    body = _decision_body(meeting, "attribution", {anne.id or 0: "pour", bruno.id or 0: "contre"})
    error = _error(client.post(url, json=body), 422)
    assert error["code"] == "decision_contraire_au_vote"
    assert [f["field"] for f in error["fields"]] == ["outcome"]
    assert [p["code"] for p in error["problems"]] == ["quorum_non_atteint"]

    # The fields fine: the 409 of the quorum alone.
    body = _decision_body(
        meeting, "refus", {anne.id or 0: "contre", bruno.id or 0: "contre"}, motivation="Fragile."
    )
    error = _error(client.post(url, json=body), 409)
    assert error["code"] == "quorum_non_atteint" and error["message"] == QUORUM_2_OF_4
    assert "fields" not in error
    assert error["problems"] == [{"code": "quorum_non_atteint", "message": QUORUM_2_OF_4}]

    # Nothing stored by any of them.
    assert client.get(url).json() == []
    assert client.get(f"/api/v1/projects/{pid}").json()["version"] == before
    assert "decision" not in [e["kind"] for e in events(client, pid)]


def test_the_decision_form_shows_every_problem_at_once(client: Any, db: Engine) -> None:
    from tests.test_forms import assert_each_once, page_text

    project, meeting, (anne, bruno, *_) = _short_of_quorum(client, db)
    pid = project["id"]
    version = client.get(f"/api/v1/projects/{pid}").json()["version"]
    # No decision chosen (the form model refuses it), Bruno's vote left out (the deliberation's
    # check), and no quorum.
    refused = client.post(
        f"/projects/{pid}/decisions",
        data={
            "version": str(version),
            "meeting_id": str(meeting["id"]),
            "outcome": "",
            "motivation": "Le Bureau salue l'engagement des habitants.",
            "votes": [f"{anne.id}:pour", ""],
        },
    )
    assert refused.status_code == 422
    html = page_text(refused)
    form = html[html.index('action="/projects/' + str(pid) + '/decisions"') :]
    assert_each_once(
        form,
        {"decision-votes": plain(BRUNO_MISSING), "decision-outcome": "Ce champ est obligatoire."},
    )
    assert "Certaines valeurs sont manquantes ou invalides : 2 champs à corriger." in form
    quorum = plain(QUORUM_2_OF_4)
    assert html.count(quorum) == 1 and quorum in form  # in the form, once
    # What was typed is kept.
    assert f'value="{anne.id}:pour" selected' in form
    assert f'value="{meeting["id"]}" selected' in form
    assert "Le Bureau salue l'engagement des habitants.</textarea>" in form

    # The fields fine, the quorum alone is said, once, at the top of the page.
    refused = client.post(
        f"/projects/{pid}/decisions",
        data={
            "version": str(version),
            "meeting_id": str(meeting["id"]),
            "outcome": "attribution",
            "votes": [f"{anne.id}:pour", f"{bruno.id}:pour"],
        },
    )
    assert refused.status_code == 409
    html = page_text(refused)
    assert html.count(quorum) == 1 and 'class="field-error"' not in html

    assert client.get(f"/api/v1/projects/{pid}/decisions").json() == []
    assert client.get(f"/api/v1/projects/{pid}").json()["version"] == version


def test_an_unknown_meeting_is_listed_with_the_other_field_problems(
    client: Any, db: Engine
) -> None:
    project, meeting, (anne, *_) = _short_of_quorum(client, db)
    url = f"/api/v1/projects/{project['id']}/decisions"
    body = _decision_body({"id": 999999}, "ajournement", {anne.id or 0: "pour"})
    error = _error(client.post(url, json=body), 422)
    # Without the meeting, neither the quorum nor who was present can be judged.
    assert error["fields"] == [
        {"field": "meeting_id", "message": "Cette réunion du Bureau est introuvable."},
        {"field": "motivation", "message": MOTIVATION_REQUIRED},
    ]
    assert "problems" not in error
    assert client.get(url).json() == []


def test_the_decision_form_judges_the_votes_beside_an_unreadable_meeting(
    client: Any, db: Engine
) -> None:
    from tests.test_forms import page_text

    project, meeting, (anne, bruno, chloe, _) = _short_of_quorum(client, db)
    pid = project["id"]
    r = client.post(
        f"/api/v1/projects/{pid}/recusals", json={"user_id": chloe.id, "reason": "Élue."}
    )
    assert r.status_code == 201, r.text
    version = client.get(f"/api/v1/projects/{pid}").json()["version"]
    refused = client.post(
        f"/projects/{pid}/decisions",
        data={
            "version": str(version),
            "meeting_id": "la dernière",  # not an id: the form model refuses it
            "outcome": "attribution",
            "votes": [f"{anne.id}:pour", f"{chloe.id}:pour"],
        },
    )
    assert refused.status_code == 422
    html = page_text(refused)
    assert "Un nombre entier est attendu." in html
    assert (
        plain(
            typeset("Chloé s'est déporté·e sur ce dossier : son vote ne peut pas être enregistré.")
        )
        in html
    )
    assert "Certaines valeurs sont manquantes ou invalides : 2 champs à corriger." in html
    assert client.get(f"/api/v1/projects/{pid}/decisions").json() == []


def test_a_stale_decision_form_is_refused_and_stores_nothing(client: Any) -> None:
    from tests.test_forms import page_text

    project = at_bureau(client)
    pid = project["id"]
    members = bureau_members(client)
    meeting = hold_meeting(client)
    version = client.get(f"/api/v1/projects/{pid}").json()["version"]
    # Someone else changes the project after the form was read.
    assert client.patch(f"/api/v1/projects/{pid}", json={"name": "Régie renommée"}).is_success
    form = {
        "version": str(version),
        "meeting_id": str(meeting["id"]),
        "outcome": "attribution",
        "votes": [f"{u['id']}:pour" for u in members],
    }
    refused = client.post(f"/projects/{pid}/decisions", data=form)
    assert refused.status_code == 412
    assert "Le projet a changé depuis votre lecture" in page_text(refused)
    assert client.get(f"/api/v1/projects/{pid}/decisions").json() == []
    # Read again, the same deliberation is recorded.
    form["version"] = str(client.get(f"/api/v1/projects/{pid}").json()["version"])
    done = client.post(f"/projects/{pid}/decisions", data=form, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/projects/{pid}?fait=decision_enregistree#decision"
    assert [d["outcome"] for d in client.get(f"/api/v1/projects/{pid}/decisions").json()] == [
        "attribution"
    ]


def _deliberation(**overrides: Any) -> Any:
    from labelflow.decisions import Deliberation
    from labelflow.models import BureauMeeting

    values: dict[str, Any] = {
        "meeting": BureauMeeting(held_on=date(2026, 6, 2), bureau_size=4, created_by="Sacha"),
        "entered_on": date(2026, 6, 1),
        "outcome": "refus",
        "motivation": None,
        "votes": [(1, "pour")],
        "attendee_ids": {1, 2},
        "recused": set(),
        "names": {1: "Anne", 2: "Bruno"},
        "quorum_fraction": 0.5,
    }
    return Deliberation(**(values | overrides))


def test_what_is_left_out_skips_only_the_checks_needing_it() -> None:
    from labelflow.decisions import deliberation_problems

    def codes(**overrides: Any) -> list[tuple[str, str | None]]:
        return [
            (p.code, (p.extra.get("fields") or [{}])[0].get("field"))
            for p in deliberation_problems(_deliberation(**overrides))
        ]

    everything = [
        ("requete_invalide", "motivation"),
        ("quorum_non_atteint", None),
        ("requete_invalide", "votes"),  # Bruno's vote
        ("decision_contraire_au_vote", "outcome"),
    ]
    assert codes() == everything
    # No meeting: neither the quorum nor the missing votes; no votes: no vote check at all.
    assert codes(meeting=None) == [everything[0], everything[3]]
    assert codes(votes=None) == everything[:2]
    assert codes(outcome=None) == everything[1:3]
    assert codes(outcome=None, votes=None, meeting=None) == []


def test_one_refusal_for_every_problem() -> None:
    from labelflow.decisions import deliberation_problems, refusal
    from labelflow.errors import Conflict, NoQuorum

    assert refusal([]) is None
    problems = deliberation_problems(_deliberation())
    error = refusal(problems)
    assert error is not None and error.status == 422 and error.code == "requete_invalide"
    assert [f["field"] for f in error.extra["fields"]] == ["votes", "outcome", "motivation"]
    assert [p["code"] for p in error.extra["problems"]] == ["quorum_non_atteint"]
    # A field the input model refused gets no other problem.
    model = [{"field": "outcome", "message": "Ce champ est obligatoire."}]
    error = refusal(problems, refused=model)
    assert error is not None
    assert [f for f in error.extra["fields"] if f["field"] == "outcome"] == model
    assert [f["field"] for f in error.extra["fields"]] == ["votes", "outcome", "motivation"]
    # Only problems on no field: the 409, every one named.
    two = [NoQuorum("Pas de quorum."), Conflict("Autre chose.")]
    error = refusal(two)
    assert error is not None and error.status == 409
    assert error.message == "Pas de quorum. Autre chose."
    assert [p["code"] for p in error.extra["problems"]] == ["quorum_non_atteint", "conflit"]
