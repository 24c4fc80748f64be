"""Project messages through the real app: who reads and writes which audience, who waits for
whom, unread counts, attachments, refusals that change nothing, the pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from labelflow.db import transaction
from labelflow.french import typeset
from labelflow.models import Document, Message, MessageDocument, User
from tests.conftest import make_user
from tests.factories import PDF, create_project, upload, walk_to
from tests.test_pages_roles import PASSWORD, csrf, link, session_as, text_of

__all__ = ["session_as"]  # the fixture, used by name


def url(project_id: int, rest: str = "") -> str:
    return f"/api/v1/projects/{project_id}/messages{rest}"


def post(client: Any, project_id: int, expect: int = 201, **body: Any) -> dict[str, Any]:
    response = client.post(url(project_id), json={"body": "Bonjour", **body})
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def audiences(client: Any, project_id: int) -> list[str]:
    response = client.get(url(project_id))
    assert response.status_code == 200, response.text
    return [m["audience"] for m in response.json()]


def project_of(client: Any, project_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/projects/{project_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def count_messages(db: Engine) -> int:
    with transaction(db, write=False) as session:
        return int(session.exec(select(func.count()).select_from(Message)).one()[0])  # type: ignore[call-overload]


def porteur_of(client: Any, db: Engine, project_id: int, name: str = "Awa Diallo") -> User:
    porteur = make_user(db, role="porteur", name=name, password=PASSWORD)
    link(client, project_id, porteur)
    return porteur


def consultant_on(client: Any, db: Engine) -> tuple[dict[str, Any], User]:
    """A project at the expertise's assignment step, its consultant assigned and independent."""
    project = walk_to(client, create_project(client), "prefiguration")
    consultant = make_user(db, role="consultant", name="Claire Martin", password=PASSWORD)
    from tests.test_pages_roles import assign

    assign(client, project["id"], consultant)
    return project, consultant


# --- who reads and writes what -----------------------------------------------------------------


def test_staff_write_all_three_audiences_and_each_role_reads_its_own(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    project, consultant_user = consultant_on(client, db)
    pid = project["id"]
    porteur = client_as(porteur_of(client, db, pid))
    consultant = client_as(consultant_user)

    sent = post(client, pid, body="  Pour les porteurs  ", audience="projet")
    assert sent["body"] == "Pour les porteurs"  # stripped
    assert sent["author"]["name"] == "Camille Roussel" and sent["author"]["role"] == "staff"
    assert sent["awaiting_reply"] is False and sent["document_ids"] == []
    post(client, pid, body="Note pour l'équipe", audience="interne")
    post(client, pid, body="Pour la consultante", audience="expertise")

    assert audiences(client, pid) == ["projet", "interne", "expertise"]  # oldest first
    assert audiences(porteur, pid) == ["projet"]
    assert audiences(consultant, pid) == ["expertise"]

    # Each writes in their own audience (by default too), not in the others'.
    assert post(porteur, pid, body="Réponse du porteur")["audience"] == "projet"
    assert post(consultant, pid, body="Question de la consultante")["audience"] == "expertise"
    before = count_messages(db)
    for who, audience in (
        (porteur, "interne"),
        (porteur, "expertise"),
        (consultant, "projet"),
        (consultant, "interne"),
    ):
        refused = who.post(url(pid), json={"body": "Essai", "audience": audience})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "audience_interdite"
        assert "Votre rôle ne donne pas accès" in refused.json()["error"]["message"]
    assert count_messages(db) == before


def test_porteur_of_another_project_and_bureau_members_get_no_messages(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    at_bureau = walk_to(client, create_project(client), "decision_bureau")
    other = create_project(client, kind="territoire")
    pid = at_bureau["id"]
    post(client, pid, body="Pour les porteurs")
    stranger = client_as(porteur_of(client, db, other["id"], name="Paul Autre"))
    for response in (
        stranger.get(url(pid)),
        stranger.post(url(pid), json={"body": "Intrus"}),
        stranger.post(url(pid, "/read")),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["message"] == "Ce projet est introuvable."

    # A Bureau member sees the project at its step, but not its messages: 403.
    member = client_as(make_user(db, role="bureau", name="Membre du Bureau"))
    assert member.get(f"/api/v1/projects/{pid}").status_code == 200
    listed = member.get(url(pid))
    assert listed.status_code == 403
    assert listed.json()["error"]["code"] == "audience_interdite"
    assert member.post(url(pid), json={"body": "Avis"}).status_code == 403
    assert count_messages(db) == 1
    # Nor any of their facts in the history they read.
    assert [
        e for e in member.get(f"/api/v1/projects/{pid}/events").json() if e["kind"] == "message"
    ] == []


def test_a_consultant_no_longer_assigned_reads_nothing_more(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    project, consultant_user = consultant_on(client, db)
    pid = project["id"]
    consultant = client_as(consultant_user)
    post(client, pid, body="Pour la consultante", audience="expertise")
    assert audiences(consultant, pid) == ["expertise"]

    (assignment,) = client.get(f"/api/v1/projects/{pid}/assignments").json()
    assignment_id = assignment["id"]
    ended = client.post(f"/api/v1/assignments/{assignment_id}/end", json={"reason": "Fin"})
    assert ended.status_code == 200, ended.text

    assert consultant.get(url(pid)).status_code == 404
    assert consultant.post(url(pid), json={"body": "Encore moi"}).status_code == 404
    assert count_messages(db) == 1


def test_only_staff_ask_for_an_answer(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    pid = create_project(client)["id"]
    porteur = client_as(porteur_of(client, db, pid))
    refused = porteur.post(url(pid), json={"body": "Urgent", "awaiting_reply": True})
    assert refused.status_code == 403
    assert "Seule l'équipe nationale" in refused.json()["error"]["message"]
    assert count_messages(db) == 0


# --- bad values: French 422, nothing stored ----------------------------------------------------


def test_bad_values_are_refused_in_french_and_nothing_is_stored(client: Any, db: Engine) -> None:
    pid = create_project(client)["id"]
    cases = [
        ({"body": "   \n "}, "message_vide", "Écrivez votre message"),
        ({"body": "x" * 10_001}, "message_trop_long", "au plus 10000"),
        ({"body": "Bonjour", "audience": "tous"}, "audience_inconnue", "« projet »"),
    ]
    for body, code, words in cases:
        response = client.post(url(pid), json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == code
        assert words in error["message"].replace("\u202f", "").replace("\u00a0", " ")
    unknown = client.post(url(pid), json={"body": "Bonjour", "audience": "tous"}).json()["error"]
    assert "« interne »" in unknown["message"] and "« expertise »" in unknown["message"]
    assert unknown["fields"][0]["field"] == "audience"
    # The request's own bounds answer the shared validation shape, in French.
    huge = client.post(url(pid), json={"body": "x" * 20_001})
    assert huge.status_code == 422 and huge.json()["error"]["code"] == "requete_invalide"
    assert client.post(url(pid), json={"body": "a\x00b"}).status_code == 422
    assert client.post(url(pid), json={"body": "ok", "document_ids": [0]}).status_code == 422
    assert count_messages(db) == 0
    assert [
        e for e in client.get(f"/api/v1/projects/{pid}/events").json() if e["kind"] == "message"
    ] == []
    # An exactly-long-enough body is fine.
    assert post(client, pid, body="é" * 10_000)["body"] == "é" * 10_000


# --- attachments -------------------------------------------------------------------------------


def test_attachments_are_documents_of_the_same_project(
    client: Any, db: Engine, client_as: Callable[[User], Any], docs_dir: Path
) -> None:
    pid = create_project(client)["id"]
    other = create_project(client, kind="territoire")["id"]
    porteur = client_as(porteur_of(client, db, pid))
    # Every definition accepts the built-in type, for every role that uploads.
    attached = upload(porteur, pid, "piece_jointe", filename="photo-du-local.pdf")
    assert attached["type_label"] == "Pièce jointe"
    second = upload(porteur, pid, "piece_jointe", filename="devis.pdf")
    note = upload(client, pid, "note_cadrage")
    foreign = upload(client, other, "piece_jointe")
    # Two attachments are kept side by side, neither replaces the other.
    docs = {d["id"]: d for d in client.get(f"/api/v1/projects/{pid}/documents").json()}
    assert docs[attached["id"]]["superseded_by_id"] is None

    sent = post(
        porteur,
        pid,
        body="Voici les pièces",
        document_ids=[attached["id"], second["id"], note["id"], attached["id"]],
    )
    assert sent["document_ids"] == [attached["id"], second["id"], note["id"]]
    (listed,) = client.get(url(pid)).json()
    assert listed["document_ids"] == sent["document_ids"]

    # Another project's document (or none at all): 422 naming it, nothing stored.
    before = count_messages(db)
    for ids in ([foreign["id"]], [attached["id"], 999_999]):
        refused = porteur.post(url(pid), json={"body": "Et celle-ci", "document_ids": ids})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "piece_jointe_invalide"
        assert str(ids[-1]) in refused.json()["error"]["message"]
    assert count_messages(db) == before
    with transaction(db, write=False) as session:
        assert len(session.exec(select(MessageDocument)).all()) == 3  # type: ignore[call-overload]
        assert session.get(Document, foreign["id"]) is not None
    # The workflow lists the built-in type, which no criterion asks for.
    definition = client.get(f"/api/v1/workflows/{project_of(client, pid)['workflow_key']}").json()
    assert "piece_jointe" in [t["key"] for t in definition["document_types"]]
    assert "piece_jointe" not in str(project_of(client, pid)["actions"])


# --- who waits for whom, unread counts ----------------------------------------------------------


def test_awaiting_reply_from_follows_the_projet_thread(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    pid = create_project(client)["id"]
    porteur = client_as(porteur_of(client, db, pid))

    def awaiting() -> Any:
        return project_of(client, pid)["awaiting_reply_from"]

    assert awaiting() is None
    post(client, pid, body="Bienvenue")  # no answer asked
    assert awaiting() is None
    post(client, pid, body="Pouvez-vous envoyer les statuts ?", awaiting_reply=True)
    assert awaiting() == "porteur"
    # Internal notes and expertise messages change nothing.
    post(client, pid, body="Note", audience="interne")
    post(client, pid, body="Relance à suivre", audience="projet")
    assert awaiting() == "porteur"
    assert project_of(porteur, pid)["awaiting_reply_from"] == "porteur"
    post(porteur, pid, body="Les voici.")
    assert awaiting() == "equipe"
    post(porteur, pid, body="Et aussi ceci.")
    assert awaiting() == "equipe"
    post(client, pid, body="Merci, bien reçu.")
    assert awaiting() is None


def test_unread_counts_go_down_once_read(
    client: Any, db: Engine, staff_user: User, client_as: Callable[[User], Any]
) -> None:
    pid = create_project(client)["id"]
    other = create_project(client, kind="territoire")["id"]
    porteur = client_as(porteur_of(client, db, pid))
    colleague = client_as(make_user(db, role="staff", name="Jérôme Petit"))

    post(client, pid, body="Premier")
    post(client, pid, body="Second")
    post(client, pid, body="Note", audience="interne")  # not the porteur's to read
    assert project_of(porteur, pid)["unread_messages"] == 2
    assert project_of(client, pid)["unread_messages"] == 0  # one's own messages are read
    assert project_of(colleague, pid)["unread_messages"] == 3

    assert porteur.post(url(pid, "/read")).status_code == 204
    assert project_of(porteur, pid)["unread_messages"] == 0
    post(porteur, pid, body="Réponse")
    post(client, other, body="Ailleurs")
    assert project_of(client, pid)["unread_messages"] == 1
    assert project_of(porteur, pid)["unread_messages"] == 0  # writing reads the thread
    assert project_of(client, other)["unread_messages"] == 0
    assert client.post(url(pid, "/read")).status_code == 204
    assert project_of(client, pid)["unread_messages"] == 0
    assert project_of(colleague, pid)["unread_messages"] == 4


def test_the_porteur_history_hides_internal_and_expertise_message_facts(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    project, consultant_user = consultant_on(client, db)
    pid = project["id"]
    porteur = client_as(porteur_of(client, db, pid))
    for audience in ("projet", "interne", "expertise"):
        post(client, pid, body=f"Message {audience}", audience=audience)

    def message_facts(who: Any) -> list[str]:
        history = who.get(f"/api/v1/projects/{pid}/events").json()
        return [e["data"]["audience"] for e in history if e["kind"] == "message"]

    assert message_facts(client) == ["projet", "interne", "expertise"]
    assert message_facts(porteur) == ["projet"]
    assert message_facts(client_as(consultant_user)) == ["expertise"]
    # The fact names the message, never its text.
    fact = next(
        e for e in client.get(f"/api/v1/projects/{pid}/events").json() if e["kind"] == "message"
    )
    assert set(fact["data"]) >= {"message_id", "audience"} and "Message projet" not in str(fact)
