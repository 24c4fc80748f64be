"""Consultant assignments and the independence check: staff assign, the consultant declares
their links with every stakeholder, a link refuses the assignment, none makes it active; staff
end it and the consultant's access ends at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from labelflow.french import typeset
from labelflow.models import User
from tests.conftest import make_user
from tests.factories import (
    add_stakeholder,
    assign,
    create_project,
    declare,
    events,
    unmet_codes,
    walk_to,
)
from tests.test_pages_roles import PASSWORD, csrf, login, nav_labels, text_of

ROUBAIX_REFUSAL = (
    "L'affectation ne peut pas prendre effet : vous avez déclaré un lien avec « Ville de "
    "Roubaix ». Un·e autre consultant·e doit être désigné·e."
)


@pytest.fixture
def at_prefiguration(client: Any) -> dict[str, Any]:
    """A project at the préfiguration step whose stakeholders include the city."""
    project = walk_to(client, create_project(client), "prefiguration")
    add_stakeholder(client, project["id"], "collectivite", "Ville de Roubaix")
    return client.get(f"/api/v1/projects/{project['id']}").json()  # type: ignore[no-any-return]


@pytest.fixture
def consultant(db: Engine) -> User:
    return make_user(db, role="consultant", name="Claire Martin", password=PASSWORD)


def stakeholder_names(client: Any, project_id: int) -> list[str]:
    return [s["name"] for s in client.get(f"/api/v1/projects/{project_id}/stakeholders").json()]


def consultant_ops(client: Any, project_id: int) -> list[tuple[str, str]]:
    return [
        (e["data"].get("op"), e["actor"])
        for e in events(client, project_id)
        if e["kind"] == "consultant"
    ]


# --- independence ------------------------------------------------------------------------------


def test_a_declared_link_refuses_the_assignment(
    client: Any,
    db: Engine,
    client_as: Callable[[User], Any],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    pending = assign(client, pid, consultant.id or 0)
    assert pending["status"] == "en_attente"
    assert pending["consultant"] == {
        "user_id": consultant.id,
        "name": "Claire Martin",
        "email": consultant.email,
    }
    assert pending["declarations"] == [] and pending["created_at"]
    before = client.get(f"/api/v1/projects/{pid}")
    assert before.json()["version"] == at_prefiguration["version"] + 1
    assert before.json()["consultant"] is None

    as_consultant = client_as(consultant)
    # Pending: the project stays hidden, but the mission lists what to declare about.
    assert as_consultant.get(f"/api/v1/projects/{pid}").status_code == 404
    (mission,) = as_consultant.get("/api/v1/me/assignments").json()
    assert mission["status"] == "en_attente"
    assert mission["project"] == {
        "id": pid,
        "name": at_prefiguration["name"],
        "communes": at_prefiguration["communes"],
        "url": None,
    }
    assert [s["name"] for s in mission["stakeholders"]] == stakeholder_names(client, pid)

    refused = declare(
        as_consultant,
        pending["id"],
        {"Ville de Roubaix": "J'ai travaillé pour le service politique de la ville en 2024."},
    )
    assert refused["status"] == "refusee"
    assert refused["explanation"] == ROUBAIX_REFUSAL
    declared = {d["stakeholder_name"]: d for d in refused["declarations"]}
    assert sorted(declared) == sorted(stakeholder_names(client, pid))
    assert declared["Ville de Roubaix"]["has_link"] is True
    assert declared["Ville de Roubaix"]["details"].startswith("J'ai travaillé")
    assert not any(d["has_link"] for name, d in declared.items() if name != "Ville de Roubaix")
    assert all(d["declared_at"] for d in refused["declarations"])

    # The project is unchanged: no consultant, same version, still hidden from them.
    after = client.get(f"/api/v1/projects/{pid}")
    assert after.json()["consultant"] is None
    assert after.headers["ETag"] == before.headers["ETag"]
    assert "consultant_designe" in unmet_codes(after.json(), "demander_expertise")
    assert as_consultant.get(f"/api/v1/projects/{pid}").status_code == 404
    (mission,) = as_consultant.get("/api/v1/me/assignments").json()
    assert mission["explanation"] == ROUBAIX_REFUSAL and mission["stakeholders"] == []

    # A declaration is made once.
    again = as_consultant.post(
        f"/api/v1/assignments/{pending['id']}/declaration", json={"declarations": []}
    )
    assert again.status_code == 409
    # Another consultant may now be assigned: a refused assignment is not in progress.
    other = make_user(db, role="consultant", name="Yves Diallo")
    assert assign(client, pid, other.id or 0)["status"] == "en_attente"


def test_several_links_are_all_named(
    client: Any,
    client_as: Callable[[User], Any],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    add_stakeholder(client, pid, "bailleur", "Lille Métropole Habitat")
    pending = assign(client, pid, consultant.id or 0)
    refused = declare(
        client_as(consultant),
        pending["id"],
        {"Ville de Roubaix": "Ancienne élue.", "Lille Métropole Habitat": "Salariée en 2020."},
    )
    assert refused["explanation"] == (
        "L'affectation ne peut pas prendre effet : vous avez déclaré un lien avec « Ville de "
        "Roubaix » et « Lille Métropole Habitat ». Un·e autre consultant·e doit être désigné·e."
    )


def test_an_incomplete_or_malformed_declaration_is_refused(
    client: Any,
    client_as: Callable[[User], Any],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    pending = assign(client, pid, consultant.id or 0)
    as_consultant = client_as(consultant)
    (mission,) = as_consultant.get("/api/v1/me/assignments").json()
    stakeholders = mission["stakeholders"]
    url = f"/api/v1/assignments/{pending['id']}/declaration"

    def send(declarations: list[dict[str, Any]]) -> Any:
        return as_consultant.post(url, json={"declarations": declarations})

    no_link = [{"stakeholder_id": s["id"], "has_link": False} for s in stakeholders]
    roubaix = next(s for s in stakeholders if s["name"] == "Ville de Roubaix")

    incomplete = send([d for d in no_link if d["stakeholder_id"] != roubaix["id"]])
    assert incomplete.status_code == 422
    error = incomplete.json()["error"]
    assert error["code"] == "declaration_incomplete"
    assert error["message"] == typeset(
        "Votre déclaration doit couvrir chaque partie prenante du projet. Il manque : "
        "« Ville de Roubaix »."
    )
    assert error["missing"] == [{"stakeholder_id": roubaix["id"], "name": "Ville de Roubaix"}]
    assert send([]).json()["error"]["code"] == "declaration_incomplete"

    twice = send([*no_link, no_link[0]])
    assert twice.status_code == 422 and "plusieurs fois" in twice.json()["error"]["message"]
    foreign = create_project(client, kind="territoire")
    stranger = add_stakeholder(client, foreign["id"], "habitants", "Collectif d'ailleurs")
    unknown = send([*no_link, {"stakeholder_id": stranger["id"], "has_link": False}])
    assert unknown.status_code == 422
    assert "n'est pas une partie prenante de ce projet" in unknown.json()["error"]["message"]
    vague = send(
        [d if d["stakeholder_id"] != roubaix["id"] else {**d, "has_link": True} for d in no_link]
    )
    assert vague.status_code == 422
    assert vague.json()["error"]["message"] == typeset(
        "Précisez la nature de votre lien avec « Ville de Roubaix »."
    )
    malformed = as_consultant.post(url, json={"declarations": [{"stakeholder_id": "x"}]})
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "requete_invalide"

    # Nothing was stored: the assignment still waits for a complete declaration.
    (assignment,) = client.get(f"/api/v1/projects/{pid}/assignments").json()
    assert assignment["status"] == "en_attente" and assignment["declarations"] == []
    assert [op for op, _ in consultant_ops(client, pid)] == ["assign"]


def test_only_the_assigned_consultant_declares(
    client: Any,
    db: Engine,
    client_as: Callable[[User], Any],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    pending = assign(client, pid, consultant.id or 0)
    url = f"/api/v1/assignments/{pending['id']}/declaration"
    body = {"declarations": []}
    someone_else = make_user(db, role="consultant", name="Yves Diallo")
    as_other = client_as(someone_else)
    refused = as_other.post(url, json=body)
    missing = as_other.post("/api/v1/assignments/999999/declaration", json=body)
    assert refused.status_code == 404
    assert refused.json() == missing.json()  # someone else's assignment does not exist
    assert as_other.get("/api/v1/me/assignments").json() == []
    assert client.post(url, json=body).status_code == 403  # staff do not declare for them
    porteur = make_user(db, role="porteur")
    assert client_as(porteur).post(url, json=body).status_code == 403
    assert client_as(porteur).get("/api/v1/me/assignments").status_code == 403
    (assignment,) = client.get(f"/api/v1/projects/{pid}/assignments").json()
    assert assignment["status"] == "en_attente"


# --- taking effect, ending ---------------------------------------------------------------------


def test_no_link_activates_and_ending_ends_access_at_once(
    client: Any,
    client_as: Callable[[User], Any],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    pending = assign(client, pid, consultant.id or 0)
    project = client.get(f"/api/v1/projects/{pid}").json()
    # Pending is not assigned: the criterion waits for the declaration.
    assert "consultant_designe" in unmet_codes(project, "demander_expertise")
    r = client.post(f"/api/v1/projects/{pid}/transitions", json={"action": "demander_expertise"})
    assert r.status_code == 409
    assert "consultant_designe" in [u["code"] for u in r.json()["error"]["unmet"]]

    as_consultant = client_as(consultant)
    active = declare(as_consultant, pending["id"])
    assert active["status"] == "active" and active["explanation"] is None
    assert active["decided_at"] and not any(d["has_link"] for d in active["declarations"])
    project = client.get(f"/api/v1/projects/{pid}").json()
    assert project["consultant"]["user_id"] == consultant.id
    assert "consultant_designe" not in unmet_codes(project, "demander_expertise")
    assert project["version"] == at_prefiguration["version"] + 2  # assigned, then in effect
    seen = as_consultant.get(f"/api/v1/projects/{pid}")
    assert seen.status_code == 200
    (mission,) = as_consultant.get("/api/v1/me/assignments").json()
    assert mission["project"]["url"] == f"/api/v1/projects/{pid}"

    end_url = f"/api/v1/assignments/{active['id']}/end"
    blank = client.post(end_url, json={"reason": "  "})
    assert blank.status_code == 422
    assert as_consultant.get(f"/api/v1/projects/{pid}").status_code == 200
    stale = client.post(end_url, json={"reason": "Indisponible."}, headers={"If-Match": "1"})
    assert stale.status_code == 412

    ended = client.post(end_url, json={"reason": "Indisponible jusqu'en juin."})
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "terminee"
    assert ended.json()["end_reason"] == "Indisponible jusqu'en juin."
    assert ended.json()["ended_by"] == "Camille Roussel" and ended.json()["ended_at"]
    # The very next request of the consultant: the project no longer exists for them.
    assert as_consultant.get(f"/api/v1/projects/{pid}").status_code == 404
    assert as_consultant.get(f"/api/v1/projects/{pid}/documents").status_code == 404
    assert as_consultant.get("/api/v1/projects").json()["total"] == 0
    project = client.get(f"/api/v1/projects/{pid}").json()
    assert project["consultant"] is None
    assert "consultant_designe" in unmet_codes(project, "demander_expertise")
    assert client.post(end_url, json={"reason": "Encore."}).status_code == 409


def test_ending_a_pending_assignment(
    client: Any,
    client_as: Callable[[User], Any],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    pending = assign(client, pid, consultant.id or 0)
    r = client.post(
        f"/api/v1/assignments/{pending['id']}/end", json={"reason": "Erreur de désignation."}
    )
    assert r.status_code == 200 and r.json()["status"] == "terminee"
    # Too late to declare: the mission is over before it began.
    late = client_as(consultant).post(
        f"/api/v1/assignments/{pending['id']}/declaration", json={"declarations": []}
    )
    assert late.status_code == 409
    assert client.get(f"/api/v1/projects/{pid}").json()["consultant"] is None


def test_one_assignment_at_a_time(
    client: Any,
    db: Engine,
    client_as: Callable[[User], Any],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    successor = make_user(db, role="consultant", name="Yves Diallo")
    first = assign(client, pid, consultant.id or 0)
    busy = client.put(f"/api/v1/projects/{pid}/consultant", json={"user_id": successor.id})
    assert busy.status_code == 409
    error = busy.json()["error"]
    assert error["code"] == "affectation_en_cours" and error["assignment_id"] == first["id"]
    assert error["message"] == typeset(
        "Une affectation est déjà en cours pour ce projet (Claire Martin, en attente de sa "
        "déclaration d'indépendance) : mettez-y fin avant de désigner un·e autre consultant·e."
    )
    declare(client_as(consultant), first["id"])
    busy = client.put(f"/api/v1/projects/{pid}/consultant", json={"user_id": successor.id})
    assert busy.status_code == 409 and "affectation active" in busy.json()["error"]["message"]

    ended = client.post(f"/api/v1/assignments/{first['id']}/end", json={"reason": "Relève."})
    assert ended.status_code == 200
    second = assign(client, pid, successor.id or 0)
    declare(client_as(successor), second["id"])
    listed = client.get(f"/api/v1/projects/{pid}/assignments").json()
    assert [(a["consultant"]["name"], a["status"]) for a in listed] == [
        ("Yves Diallo", "active"),
        ("Claire Martin", "terminee"),
    ]
    assert listed[1]["end_reason"] == "Relève."
    assert client_as(consultant).get(f"/api/v1/projects/{pid}").status_code == 404
    assert client_as(successor).get(f"/api/v1/projects/{pid}").status_code == 200


def test_who_and_when_a_consultant_may_be_assigned(
    client: Any, db: Engine, at_prefiguration: dict[str, Any], consultant: User
) -> None:
    early = create_project(client)
    r = client.put(f"/api/v1/projects/{early['id']}/consultant", json={"user_id": consultant.id})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "etape_incorrecte"
    assert (
        typeset("« Association de préfiguration » et « Expertise sur site »")
        in (r.json()["error"]["message"])
    )
    pid = at_prefiguration["id"]
    porteur = make_user(db, role="porteur")
    inactive = make_user(db, role="consultant")
    client.patch(f"/api/v1/users/{inactive.id}", json={"active": False})
    for user_id in (porteur.id, inactive.id, 999999):
        r = client.put(f"/api/v1/projects/{pid}/consultant", json={"user_id": user_id})
        assert r.status_code == 422, user_id
        assert r.json()["error"]["fields"] == [
            {"field": "user_id", "message": "Choisissez un compte de consultant·e actif."}
        ]
    stale = client.put(
        f"/api/v1/projects/{pid}/consultant",
        json={"user_id": consultant.id},
        headers={"If-Match": str(at_prefiguration["version"] - 1)},
    )
    assert stale.status_code == 412
    assert client.get(f"/api/v1/projects/{pid}/assignments").json() == []
    assert client.get(f"/api/v1/projects/{pid}").json()["version"] == at_prefiguration["version"]


def test_every_fact_is_in_the_history(
    client: Any, db: Engine, client_as: Callable[[User], Any], at_prefiguration: dict[str, Any]
) -> None:
    pid = at_prefiguration["id"]
    linked = make_user(db, role="consultant", name="Yves Diallo")
    free = make_user(db, role="consultant", name="Claire Martin")
    first = assign(client, pid, linked.id or 0)
    declare(client_as(linked), first["id"], {"Ville de Roubaix": "Élu municipal."})
    second = assign(client, pid, free.id or 0)
    declare(client_as(free), second["id"])
    client.post(f"/api/v1/assignments/{second['id']}/end", json={"reason": "Départ en congé."})
    assert consultant_ops(client, pid) == [
        ("assign", "Camille Roussel"),
        ("declare", "Yves Diallo"),
        ("refuse", "Yves Diallo"),
        ("assign", "Camille Roussel"),
        ("declare", "Claire Martin"),
        ("activate", "Claire Martin"),
        ("end", "Camille Roussel"),
    ]
    history = [e for e in events(client, pid) if e["kind"] == "consultant"]
    assert history[2]["data"]["linked"] == ["Ville de Roubaix"]
    assert history[-1]["comment"] == "Départ en congé."
    page = text_of(client.get(f"/projects/{pid}/history"))
    assert (
        typeset("Affectation de Yves Diallo refusée : lien déclaré avec « Ville de Roubaix ».")
        in page
    )
    assert (
        "Claire Martin (" in page
        and typeset("en charge de l'expertise : affectation active.") in page
    )
    assert "Fin de l'affectation de Claire Martin" in page


# --- pages -------------------------------------------------------------------------------------


@pytest.fixture
def signed_in(app: Any, anonymous: Any) -> Iterator[Callable[[User], TestClient]]:
    opened: list[TestClient] = []

    def make(user: User) -> TestClient:
        browser = TestClient(app)
        browser.__enter__()
        opened.append(browser)
        assert login(browser, user.email).status_code == 303
        return browser

    yield make
    for browser in opened:
        browser.__exit__(None, None, None)


def test_consultant_declares_from_mes_missions(
    client: Any,
    signed_in: Callable[[User], TestClient],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    # Staff designate the consultant from the project page.
    page = client.get(f"/projects/{pid}")
    assert f'action="/projects/{pid}/consultant"' in page.text
    done = client.post(
        f"/projects/{pid}/consultant",
        data={"user_id": str(consultant.id), "version": str(at_prefiguration["version"])},
        follow_redirects=False,
    )
    assert done.status_code == 303
    staff_view = text_of(client.get(f"/projects/{pid}"))
    assert "En attente de la déclaration d'indépendance" in staff_view
    assert f'action="/projects/{pid}/consultant"' not in staff_view  # one at a time

    browser = signed_in(consultant)
    home = browser.get("/")
    assert nav_labels(text_of(home)) == [
        "Mes projets",
        "Mes missions",
        "Messages",
        "Parcours",
        "Aide",
    ]
    assert "1 mission d'expertise attend votre déclaration d'indépendance" in text_of(home)
    assert browser.get(f"/projects/{pid}").status_code == 404
    missions = browser.get("/assignments")
    html = text_of(missions)
    assert "<h1>Mes missions</h1>" in html and at_prefiguration["name"] in html
    names = stakeholder_names(client, pid)
    for name in names:
        assert typeset(f"<legend>« {name} »") in html
    ids = re.findall(r'name="link-(\d+)" value="non"', missions.text)
    assert len(ids) == len(names)
    action = re.search(r'action="(/assignments/\d+/declaration)"', missions.text)
    assert action

    # One stakeholder left unanswered: refused, what was typed is kept.
    partial = {f"link-{i}": "non" for i in ids[1:]} | {f"details-{ids[1]}": "Rien à signaler"}
    refused = browser.post(action.group(1), data={"csrf_token": csrf(missions), **partial})
    assert refused.status_code == 422
    html = text_of(refused)
    assert typeset(f"Il manque : « {names[0]} ».") in html
    assert "Répondez pour cette partie prenante." in html
    assert re.search(rf'name="link-{ids[1]}" value="non" checked', refused.text)
    assert "Rien à signaler" in html

    answered = {f"link-{i}": "non" for i in ids}
    sent = browser.post(
        action.group(1), data={"csrf_token": csrf(missions), **answered}, follow_redirects=False
    )
    assert sent.status_code == 303
    html = text_of(browser.get("/assignments"))
    assert "Missions en cours" in html and f'href="/projects/{pid}"' in html
    assert browser.get(f"/projects/{pid}").status_code == 200

    # Staff see the declaration and end the assignment with a reason.
    staff_view = text_of(client.get(f"/projects/{pid}"))
    assert (
        "Déclaration d'indépendance" in staff_view
        and "<strong>Claire Martin</strong>" in staff_view
    )
    (assignment,) = client.get(f"/api/v1/projects/{pid}/assignments").json()
    end_url = f"/assignments/{assignment['id']}/end"
    assert f'action="{end_url}"' in staff_view
    blank = client.post(end_url, data={"reason": "", "confirm": "1"})
    assert blank.status_code == 422
    assert "Ce champ est obligatoire." in text_of(blank)
    ended = client.post(
        end_url, data={"reason": "Mission confiée à un autre cabinet.", "confirm": "1"}
    )
    assert ended.status_code == 200  # back on the project page, the section shows it
    assert typeset("Motif de fin : Mission confiée à un autre cabinet.") in text_of(ended)
    assert browser.get(f"/projects/{pid}").status_code == 404


def test_a_refusal_is_explained_on_mes_missions(
    client: Any,
    signed_in: Callable[[User], TestClient],
    at_prefiguration: dict[str, Any],
    consultant: User,
) -> None:
    pid = at_prefiguration["id"]
    assign(client, pid, consultant.id or 0)
    browser = signed_in(consultant)
    missions = browser.get("/assignments")
    action = re.search(r'action="(/assignments/\d+/declaration)"', missions.text)
    assert action
    ids = re.findall(r'name="link-(\d+)" value="non"', missions.text)
    names = stakeholder_names(client, pid)
    roubaix = ids[names.index("Ville de Roubaix")]
    answers = {f"link-{i}": "non" for i in ids} | {
        f"link-{roubaix}": "oui",
        f"details-{roubaix}": "Ancienne cheffe de projet de la ville.",
    }
    sent = browser.post(
        action.group(1), data={"csrf_token": csrf(missions), **answers}, follow_redirects=False
    )
    assert sent.status_code == 303
    html = text_of(browser.get("/assignments"))
    assert typeset(ROUBAIX_REFUSAL) in html
    assert browser.get(f"/projects/{pid}").status_code == 404
    staff_view = text_of(client.get(f"/projects/{pid}"))
    assert typeset("Refusée : lien déclaré") in staff_view
    assert "Ancienne cheffe de projet de la ville." in staff_view
    # The form to designate someone else is back.
    assert f'action="/projects/{pid}/consultant"' in staff_view
