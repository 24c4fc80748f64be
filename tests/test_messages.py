"""Project messages through the real app: who reads and writes which audience, who waits for
whom, unread counts, attachments, refusals that change nothing, the pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from labelflow.db import transaction
from labelflow.french import typeset
from labelflow.models import Document, Message, MessageDocument, User
from tests.conftest import make_user
from tests.factories import PDF, create_project, upload, walk_to
from tests.test_pages_roles import PASSWORD, csrf, link, option_values, session_as, text_of

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
    assert typeset("« interne »") in unknown["message"]
    assert typeset("« expertise »") in unknown["message"]
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


# --- pages -------------------------------------------------------------------------------------


def plain(html: str) -> str:
    """The page with French typography's non-breaking spaces read as plain ones."""
    return html.replace("\u00a0", " ").replace("\u202f", " ")


def thread_of(html: str) -> str:
    match = re.search(r'<section class="card" id="messages".*?</section>', html, re.S)
    assert match, "no « Messages » section"
    return plain(unescape(match.group(0)))


def header_count(html: str) -> str:
    match = re.search(r'<a href="/messages"[^>]*>(.*?)</a>', html, re.S)
    assert match, "no messages link in the navigation"
    return plain(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def menu_count(html: str) -> str:
    match = re.search(r'<summary class="site-nav__toggle">(.*?)</summary>', html, re.S)
    assert match, "no menu button in the navigation"
    return " ".join(plain(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def send_form(browser: TestClient, project_id: int, page: Any, **fields: Any) -> Any:
    files = fields.pop("files", None)
    return browser.post(
        f"/projects/{project_id}/messages",
        data={"csrf_token": csrf(page), **fields},
        files=files,
        follow_redirects=False,
    )


def test_staff_and_porteur_talk_through_the_pages(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    staff = make_user(db, role="staff", name="Inès Moreau", password=PASSWORD)
    project = create_project(client)
    pid = project["id"]
    assert (
        client.patch(f"/api/v1/projects/{pid}", json={"staff_owner_id": staff.id}).status_code
        == 200
    )
    porteur = porteur_of(client, db, pid)
    team, home = session_as(staff), session_as(porteur)

    page = team.get(f"/projects/{pid}")
    html = text_of(page)
    assert 'id="messages-title"' in html and "Aucun message pour l'instant." in html
    # Staff choose the audience and may ask for an answer.
    assert option_values(html, "message-audience") == ["projet", "interne", "expertise"]
    assert 'name="awaiting_reply"' in html
    sent = send_form(
        team,
        pid,
        page,
        body="Pouvez-vous nous envoyer les statuts ?",
        audience="projet",
        awaiting_reply="on",
    )
    assert (
        sent.status_code == 303
        and sent.headers["location"] == f"/projects/{pid}?fait=message_envoye#messages"
    )
    send_form(team, pid, page, body="Dossier à surveiller", audience="interne")
    staff_page = text_of(team.get(f"/projects/{pid}?fait=message_envoye"))
    assert "Message envoyé." in staff_page
    assert "En attente de réponse du porteur de projet" in plain(staff_page)

    # « Mon projet »: one audience, no choice, no « réponse attendue »; the header counts it.
    mine = home.get("/")
    mine_html = text_of(mine)
    thread = thread_of(mine_html)
    assert (
        "Pouvez-vous nous envoyer les statuts ?" in thread and "Dossier à surveiller" not in thread
    )
    assert "Nouveau" in thread and "Réponse attendue" in thread
    assert 'id="message-audience"' not in mine_html and 'name="awaiting_reply"' not in mine_html
    assert "En attente de votre réponse" in plain(mine_html)
    # Opened: read at once, the header of this very page counts it no more.
    assert header_count(mine_html) == "Messages"
    # Opening the thread read it: the next page counts nothing new.
    again = text_of(home.get("/"))
    assert "Nouveau" not in thread_of(again)
    assert header_count(again) == "Messages"

    # The porteur answers: the team is now the one awaited, and their header counts it.
    answered = send_form(
        home,
        pid,
        home.get("/"),
        body="Les voici, en pièce jointe.",
        files={"file": ("statuts.pdf", PDF, "application/pdf")},
    )
    assert answered.status_code == 303, answered.text
    (document,) = [
        d
        for d in client.get(f"/api/v1/projects/{pid}/documents").json()
        if d["type"] == "piece_jointe"
    ]
    assert document["filename"] == "statuts.pdf"
    last = client.get(url(pid)).json()[-1]
    assert last["author"]["role"] == "porteur" and last["document_ids"] == [document["id"]]
    dashboard = team.get("/")
    assert header_count(text_of(dashboard)) == "Messages 1 non lu"
    assert menu_count(text_of(dashboard)) == "Menu 1 message non lu"  # the phone's closed menu
    listing = text_of(team.get("/projects"))
    assert "1 message non lu" in plain(listing)
    staff_thread = thread_of(text_of(team.get(f"/projects/{pid}")))
    assert "statuts.pdf" in staff_thread and "Nouveau" in staff_thread
    assert header_count(text_of(team.get("/messages"))) == "Messages"


def test_a_refused_message_keeps_what_was_typed(
    client: Any, db: Engine, session_as: Callable[[User], TestClient], docs_dir: Path
) -> None:
    pid = create_project(client)["id"]
    home = session_as(porteur_of(client, db, pid))
    page = home.get("/")
    typed = "Voici ma réponse détaillée. " * 400  # beyond 10 000 characters
    refused = send_form(home, pid, page, body=typed)
    assert refused.status_code == 422
    html = text_of(refused)
    assert "Votre demande n'a pas abouti, rien n'a été modifié." in plain(html)
    assert "Le message est trop long" in plain(html)
    assert typed.strip()[:200] in unescape(refused.text)
    # A file of a refused type: 415, the body kept, no message and no document stored.
    bad = send_form(
        home,
        pid,
        page,
        body="Avec un fichier",
        files={"file": ("x.exe", b"MZ\x00\x00binary", "application/octet-stream")},
    )
    assert bad.status_code == 415
    assert ">Avec un fichier</textarea>" in bad.text
    assert count_messages(db) == 0
    assert client.get(f"/api/v1/projects/{pid}/documents").json() == []
    # An empty body with a file stores no file either.
    empty = send_form(
        home, pid, page, body="  ", files={"file": ("a.pdf", PDF + b"unique", "application/pdf")}
    )
    assert empty.status_code == 422 and "Écrivez votre message" in text_of(empty)
    assert [p for p in docs_dir.rglob("*") if p.is_file() and p.parent.name != "tmp"] == []


def test_the_consultant_and_the_bureau_on_the_project_page(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project, consultant = consultant_on(client, db)
    pid = project["id"]
    post(client, pid, body="Pour les porteurs")
    post(client, pid, body="Votre visite est-elle calée ?", audience="expertise")
    browser = session_as(consultant)
    page = browser.get(f"/projects/{pid}")
    thread = thread_of(text_of(page))
    assert "Votre visite est-elle calée ?" in thread and "Pour les porteurs" not in thread
    assert 'id="message-audience"' not in page.text
    assert send_form(browser, pid, page, body="Oui, le 12.").status_code == 303
    assert client.get(url(pid)).json()[-1]["audience"] == "expertise"

    at_bureau = walk_to(client, create_project(client, kind="territoire"), "decision_bureau")
    member = session_as(make_user(db, role="bureau", name="Membre", password=PASSWORD))
    bureau_page = member.get(f"/projects/{at_bureau['id']}")
    assert bureau_page.status_code == 200
    assert 'id="messages"' not in bureau_page.text and "nav-messages" not in bureau_page.text
    refused = send_form(member, at_bureau["id"], bureau_page, body="Avis")
    assert refused.status_code == 403
    assert member.get("/messages").status_code == 403


def test_the_dashboard_lists_who_is_waiting_oldest_first(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    first = create_project(client, name="Régie du Nord")["id"]
    second = create_project(client, name="Régie du Sud")["id"]
    third = create_project(client, name="Régie de l'Est")["id"]
    answered = create_project(client, name="Régie de l'Ouest")["id"]
    porteurs = {
        pid: client_as(porteur_of(client, db, pid, name=f"Porteur {pid}"))
        for pid in (first, second, third, answered)
    }
    post(client, second, body="Question au Sud", awaiting_reply=True)
    post(client, first, body="Question au Nord", awaiting_reply=True)
    post(porteurs[third], third, body="Première question de l'Est")
    post(porteurs[third], third, body="Relance de l'Est")
    post(porteurs[answered], answered, body="Question de l'Ouest")
    post(client, answered, body="Réponse à l'Ouest")

    page = client.get("/")
    assert page.status_code == 200
    ctx = page.context
    assert [w.name for w in ctx["awaiting_porteurs"]] == ["Régie du Sud", "Régie du Nord"]
    (waiting,) = ctx["awaiting_staff"]
    assert waiting.name == "Régie de l'Est" and waiting.excerpt == "Première question de l'Est"
    html = plain(text_of(page))
    assert (
        "En attente d'une réponse des porteurs" in html
        and "Messages des porteurs sans réponse" in html
    )
    # An answer takes each off its list.
    post(porteurs[second], second, body="Réponse du Sud")
    post(client, third, body="Réponse à l'Est")
    ctx = client.get("/").context
    assert [w.name for w in ctx["awaiting_porteurs"]] == ["Régie du Nord"]
    assert [w.name for w in ctx["awaiting_staff"]] == ["Régie du Sud"]
