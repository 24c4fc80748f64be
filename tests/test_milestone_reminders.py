"""Milestones (jalons) are reminded like every deadline (DESIGN §9, §13): soon, on the day, 7
days late, each once; to the person concerned and the staff in charge, not the porteurs; none
once the milestone is held, none while the project is suspended; e-mailed in French."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from labelflow import dates, jobs
from labelflow.models import User
from labelflow.settings import Settings
from tests.conftest import make_user
from tests.smtp import SmtpServer, text_of
from tests.test_reminders import DUE, far_label_dates, project_with_porteur, run_pass, titles_for


def _milestone(client: Any, pid: int, title: str, user_id: int | None) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{pid}/milestones",
        json={"title": title, "due_on": DUE.isoformat(), "user_id": user_id},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_milestone_reminds_the_person_concerned_and_the_staff_in_charge(
    client: Any,
    app: Any,
    db: Engine,
    settings: Settings,
    staff_user: User,
    smtp_server: SmtpServer,
) -> None:
    porteur = make_user(db, role="porteur", name="Paule Porteur")
    visitor = make_user(db, role="staff", name="Marc Visiteur")
    project = project_with_porteur(client, porteur)
    pid = project["id"]
    far_label_dates(db)
    # The step's own deadline out of the way: only the milestone is due around DUE.
    step = next(d for d in project["deadlines"] if d["kind"] == "etape")
    response = client.patch(
        f"/api/v1/projects/{pid}/deadlines/{step['id']}",
        json={"due_on": (DUE + timedelta(days=2000)).isoformat(), "reason": "Hors du test"},
    )
    assert response.status_code == 200, response.text
    _milestone(client, pid, "Visite d'une Régie voisine", visitor.id)

    expected = {
        -31: None,
        -30: "Échéance dans 30 jours : Visite d'une Régie voisine",
        0: "Échéance aujourd'hui : Visite d'une Régie voisine",
        7: "Échéance dépassée de 7 jours : Visite d'une Régie voisine",
    }
    seen: list[str] = []
    for offset, title in expected.items():
        assert run_pass(app, db, DUE + timedelta(days=offset)) == (1 if title else 0), offset
        assert run_pass(app, db, DUE + timedelta(days=offset)) == 0  # once
        if title:
            seen.append(title)
        assert titles_for(db, visitor.id) == seen
        assert titles_for(db, staff_user.id) == seen  # the chargée de suivi (its creator)
        assert titles_for(db, porteur.id) == []

    jobs.run_due(db, settings=smtp_server.settings(settings), runtime=app.state.runtime)
    by_address: dict[str, list[Any]] = {}
    for (_sender, recipients), message in zip(
        smtp_server.envelopes, smtp_server.messages, strict=True
    ):
        for address in recipients:
            by_address.setdefault(address, []).append(message)
    # (the porteur was told of the step's due date moved, not of the milestone)
    assert not any("Visite" in str(m["Subject"]) for m in by_address.get(porteur.email, []))
    late = by_address[visitor.email][-1]
    assert late["Subject"] == (
        "Régie de quartier de l'Alma — Échéance dépassée de 7 jours : Visite d'une Régie voisine"
    )
    text = " ".join(text_of(late).replace("\u202f", " ").replace("\xa0", " ").split())
    assert f"Échéance prévue le {dates.french_date(DUE)}." in text
    assert f"{settings.base_url}/projects/{pid}#echeances" in text


def test_a_held_milestone_or_a_suspended_project_is_not_reminded(
    client: Any, app: Any, db: Engine, staff_user: User
) -> None:
    porteur = make_user(db, role="porteur", name="Paule Porteur")
    project = project_with_porteur(client, porteur)
    pid = project["id"]
    far_label_dates(db)
    step = next(d for d in project["deadlines"] if d["kind"] == "etape")
    response = client.patch(
        f"/api/v1/projects/{pid}/deadlines/{step['id']}",
        json={"due_on": (DUE + timedelta(days=2000)).isoformat(), "reason": "Hors du test"},
    )
    assert response.status_code == 200, response.text
    held = _milestone(client, pid, "Comité de pilotage", staff_user.id)
    response = client.patch(f"/api/v1/projects/{pid}/milestones/{held['id']}", json={"done": True})
    assert response.status_code == 200, response.text
    assert run_pass(app, db, DUE) == 0

    _milestone(client, pid, "Réunion publique", porteur.id)
    response = client.post(f"/api/v1/projects/{pid}/suspend", json={"comment": "Élections"})
    assert response.status_code == 200, response.text
    assert run_pass(app, db, DUE) == 0
    assert titles_for(db, porteur.id) == []
