"""Who reads a message's attachments: a file attached to an `interne` note or an `expertise`
message never reaches a porteur, nor an `interne` one the consultant, nor the Bureau; through
every door (the documents list, the download, the history, the project page, « Mon projet », the
Bureau's decision files, a message linking to it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from labelflow.db import transaction
from labelflow.models import Message, User
from tests.conftest import make_user
from tests.factories import create_project, upload, walk_to
from tests.test_pages_roles import PASSWORD, link, session_as, text_of

__all__ = ["session_as"]  # the fixture, used by name

# The file attached to a message of each audience.
AUDIENCE_FILES = {
    "projet": "pour-les-porteurs.pdf",
    "interne": "note-interne-confidentielle.pdf",
    "expertise": "pour-la-consultante.pdf",
}


@dataclass
class Thread:
    pid: int
    porteur: User
    consultant: User
    ids: dict[str, int]  # attachment per audience, "unattached", "note" (a regular document)


def _message(client: Any, pid: int, audience: str, document_ids: list[int]) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{pid}/messages",
        json={"body": f"Message {audience}", "audience": audience, "document_ids": document_ids},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def thread(client: Any, db: Engine) -> Thread:
    project = walk_to(client, create_project(client), "prefiguration")
    pid = project["id"]
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, pid, porteur)
    consultant = make_user(db, role="consultant", name="Claire Martin", password=PASSWORD)
    from tests.test_pages_roles import assign

    assign(client, pid, consultant)
    ids = {"note": upload(client, pid, "note_cadrage", filename="note-de-cadrage.pdf")["id"]}
    for audience, filename in AUDIENCE_FILES.items():
        ids[audience] = upload(client, pid, "piece_jointe", filename=filename)["id"]
        # The interne note also links a regular document: that one stays everyone's.
        extra = [ids["note"]] if audience == "interne" else []
        _message(client, pid, audience, [ids[audience], *extra])
    ids["unattached"] = upload(client, pid, "piece_jointe", filename="pas-encore-envoyee.pdf")["id"]
    return Thread(pid, porteur, consultant, ids)


def _listed(client: Any, pid: int) -> set[int]:
    response = client.get(f"/api/v1/projects/{pid}/documents")
    assert response.status_code == 200, response.text
    return {d["id"] for d in response.json()}


def _history_ids(client: Any, pid: int) -> set[int]:
    response = client.get(f"/api/v1/projects/{pid}/events")
    assert response.status_code == 200, response.text
    return {e["data"].get("id") for e in response.json() if e["kind"] == "document"}


def _count_messages(db: Engine) -> int:
    with transaction(db, write=False) as session:
        return int(session.exec(select(func.count()).select_from(Message)).one()[0])  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("reader", "sees"),
    [
        ("staff", {"note", "projet", "interne", "expertise", "unattached"}),
        ("porteur", {"note", "projet"}),
        # The consultant reads the `expertise` messages only: their attachments, no others.
        ("consultant", {"note", "expertise"}),
    ],
)
def test_each_role_reads_the_attachments_of_the_audiences_it_reads(
    reader: str,
    sees: set[str],
    thread: Thread,
    client: Any,
    client_as: Callable[[User], Any],
    session_as: Callable[[User], TestClient],
) -> None:
    user = {"porteur": thread.porteur, "consultant": thread.consultant}.get(reader)
    api = client if user is None else client_as(user)
    pid, ids = thread.pid, thread.ids
    visible = {ids[k] for k in sees}
    hidden = set(ids.values()) - visible

    # (walking to the step uploaded other documents: everyone's, left aside)
    assert _listed(api, pid) & set(ids.values()) == visible
    for key, document_id in ids.items():
        response = api.get(f"/api/v1/documents/{document_id}/content")
        assert response.status_code == (200 if key in sees else 404), (key, response.text)
    # The history does not name them either (nor their file name).
    history = _history_ids(api, pid)
    assert visible <= history and not hidden & history
    if user is None:
        return
    # The project page (« Mon projet » for the porteur) neither lists nor links them.
    page = session_as(user).get(f"/projects/{pid}")
    assert page.status_code == 200
    text = text_of(page)
    for key, filename in AUDIENCE_FILES.items():
        assert (filename in text) == (key in sees), (reader, filename)
        assert (f"/api/v1/documents/{ids[key]}/content" in text) == (key in sees)
    assert "pas-encore-envoyee.pdf" not in text


def test_a_hidden_attachment_cannot_be_linked_to_a_message(
    thread: Thread, client_as: Callable[[User], Any], db: Engine
) -> None:
    porteur = client_as(thread.porteur)
    before = _count_messages(db)
    for key in ("interne", "expertise", "unattached"):
        response = porteur.post(
            f"/api/v1/projects/{thread.pid}/messages",
            json={"body": "Et celle-ci ?", "document_ids": [thread.ids[key]]},
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "piece_jointe_invalide"
    consultant = client_as(thread.consultant)
    response = consultant.post(
        f"/api/v1/projects/{thread.pid}/messages",
        json={"body": "Vu", "audience": "expertise", "document_ids": [thread.ids["interne"]]},
    )
    assert response.status_code == 422, response.text
    assert _count_messages(db) == before


def test_an_attachment_is_its_uploaders_until_sent(
    thread: Thread, client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    porteur = client_as(thread.porteur)
    own = upload(porteur, thread.pid, "piece_jointe", filename="devis-du-local.pdf")["id"]
    # The porteur who uploaded it sees it and may send it; the consultant does not see it.
    assert own in _listed(porteur, thread.pid)
    assert own not in _listed(client_as(thread.consultant), thread.pid)
    sent = porteur.post(
        f"/api/v1/projects/{thread.pid}/messages",
        json={"body": "Le devis", "document_ids": [own]},
    )
    assert sent.status_code == 201, sent.text
    assert own in _listed(client, thread.pid)
    # Sent on `projet`: the porteurs of the project read it; the consultant still does not.
    other_porteur = make_user(db, role="porteur", name="Paul Second")
    link(client, thread.pid, other_porteur)
    assert own in _listed(client_as(other_porteur), thread.pid)
    assert own not in _listed(client_as(thread.consultant), thread.pid)


def test_the_bureau_reads_no_message_attachment(
    client: Any, db: Engine, client_as: Callable[[User], Any]
) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    pid = project["id"]
    secret = upload(client, pid, "piece_jointe", filename="avis-interne.pdf")["id"]
    _message(client, pid, "interne", [secret])
    member = client_as(make_user(db, role="bureau", name="Membre du Bureau"))
    listed = _listed(member, pid)
    assert listed and secret not in listed
    assert member.get(f"/api/v1/documents/{secret}/content").status_code == 404
    agenda = member.get("/api/v1/bureau/agenda").json()
    (item,) = [i for i in agenda if i["project"]["id"] == pid]
    assert secret not in {d["id"] for d in item["documents"]}
    staff_agenda = client.get("/api/v1/bureau/agenda").json()
    (item,) = [i for i in staff_agenda if i["project"]["id"] == pid]
    assert secret in {d["id"] for d in item["documents"]}
