"""The pages per role, signed in through the login page: what each role sees, what is hidden,
what is refused; user management, porteurs linked to a project, the consultant select, the
account page and its tokens, sign-in and sign-out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from labelflow.actors import ROLE_LABELS
from labelflow.french import typeset
from labelflow.models import User
from labelflow.web.app import create_app
from tests.conftest import make_user
from tests.factories import (
    PDF,
    assign_independent_consultant,
    client_for,
    create_project,
    declare,
    upload,
    walk_to,
)

PASSWORD = "correct horse battery"


def text_of(response: Any) -> str:
    return unescape(response.text)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name!r}"
    return match.group(1)


def csrf(response: Any) -> str:
    return hidden(response.text, "csrf_token")


@dataclass
class Nav:
    """The main navigation as a page shows it (templates/_nav.html)."""

    main: list[str] = field(default_factory=list)  # the bar's entries, in order
    group_label: str = ""  # the group's button, when there is a group
    group: list[str] = field(default_factory=list)  # the group's entries, in order
    group_current: bool = False  # the group's button marked: the current page is in it
    current: list[str] = field(default_factory=list)  # entries marked aria-current="page"
    hrefs: dict[str, str] = field(default_factory=dict)  # label -> address
    account: str = ""  # the account link's text, screen readers' words included


class _NavParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.nav = Nav()
        self.found = False
        self.depth = 0  # inside <nav aria-label="Navigation principale"> when > 0
        self.items: list[bool] = []  # the open <li>s: is each the group's?
        self.in_summary = self.in_badge = False
        self.link: tuple[str, bool, str] | None = None  # (href, current, class)
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "nav" and a.get("aria-label") == "Navigation principale":
            self.found, self.depth = True, 1
            return
        if not self.depth:
            return
        if tag == "nav":
            self.depth += 1
        classes = (a.get("class") or "").split()
        if tag == "li":
            self.items.append("nav__group" in classes)
            if "nav__group" in classes:
                self.nav.group_current = "nav__group--current" in classes
        elif tag == "summary" and self.in_group:
            self.in_summary, self.text = True, ""
        elif tag == "span" and "badge" in classes:
            self.in_badge = True
        elif tag == "a":
            self.link = (a.get("href") or "", a.get("aria-current") == "page", a.get("class") or "")
            self.text = ""

    @property
    def in_group(self) -> bool:
        return any(self.items)

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag == "nav":
            self.depth -= 1
        elif tag == "summary" and self.in_summary:
            self.nav.group_label, self.in_summary = self.text.strip(), False
        elif tag == "span" and self.in_badge:
            self.in_badge = False
        elif tag == "li" and self.items:
            self.items.pop()
        elif tag == "a" and self.link is not None:
            href, current, classes = self.link
            label = " ".join(self.text.split())
            self.link = None
            if "account-link" in classes:
                self.nav.account = label
                if current:
                    self.nav.current.append("Mon compte")
                return
            (self.nav.group if self.in_group else self.nav.main).append(label)
            self.nav.hrefs[label] = href
            if current:
                self.nav.current.append(label)

    def handle_data(self, data: str) -> None:
        if self.depth and not self.in_badge:
            self.text += data


def nav_of(html: str) -> Nav:
    parser = _NavParser()
    parser.feed(html)
    assert parser.found, "no main navigation"
    return parser.nav


def nav_labels(html: str) -> list[str]:
    """Every entry of the main navigation, the bar's then the group's."""
    nav = nav_of(html)
    return nav.main + nav.group


def login(client: TestClient, email: str, password: str = PASSWORD, next_url: str = "/") -> Any:
    form = client.get("/login")
    assert form.status_code == 200
    return client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "login_token": hidden(form.text, "login_token"),
            "next": next_url,
        },
        follow_redirects=False,
    )


@pytest.fixture
def session_as(app: Any, anonymous: Any) -> Iterator[Callable[[User], TestClient]]:
    """`session_as(user)`: a browser-like client signed in through the login page."""
    opened: list[TestClient] = []

    def make(user: User) -> TestClient:
        other = TestClient(app)
        other.__enter__()
        opened.append(other)
        response = login(other, user.email)
        assert response.status_code == 303, response.text
        return other

    yield make
    for other in opened:
        other.__exit__(None, None, None)


def link(client: Any, project_id: int, user: User) -> None:
    response = client.post(f"/api/v1/projects/{project_id}/members", json={"user_id": user.id})
    assert response.status_code == 201, response.text


def assign(client: Any, project_id: int, user: User) -> None:
    """Assign the consultant, who declares no link: the assignment is in effect."""
    assign_independent_consultant(client, project_id, user.id or 0)


def option_values(html: str, select_id: str) -> list[str]:
    select = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {select_id!r}"
    return [v for v in re.findall(r'<option value="([^"]*)"', select.group(1)) if v]


# --- porteur -----------------------------------------------------------------------------------


def test_porteur_home_is_mon_projet_and_read_only(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project = create_project(client)
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    link(client, project["id"], porteur)
    browser = session_as(porteur)

    home = browser.get("/")
    assert home.status_code == 200
    html = text_of(home)
    assert "<h1>Mon projet</h1>" in html
    assert project["name"] in html
    # Where it stands, what is missing, when.
    assert "en est à l'étape <strong>1 sur 6</strong>" in html
    assert [s.status for s in home.context["timeline"]] == ["current"] + ["future"] * 5
    assert typeset("Il manque la pièce « Note de cadrage ».") in html
    assert "Échéances" in html and "Date cible du label" in html
    # Nothing they cannot do: no action, record, review, deadline or suspension form.
    for action in ("transitions", "stakeholders", "attestations", "edit", "suspend", "members"):
        assert f'action="/projects/{project["id"]}/{action}"' not in html, action
    assert "/deadlines/" not in html and "/review" not in html
    assert "Lancer l'étude de faisabilité</button>" not in html
    # The documents they may add, the expertise report left out.
    types = option_values(html, "document-type")
    assert "note_cadrage" in types and "rapport_expertise" not in types
    assert nav_labels(html) == ["Mon projet", "Messages", "Parcours", "Aide"]
    assert "Awa Diallo" in html and "Se déconnecter" in html

    # The project page is the same read-only view.
    page = text_of(browser.get(f"/projects/{project['id']}"))
    assert "<h1>Mon projet</h1>" in page
    assert f'action="/projects/{project["id"]}/transitions"' not in page


def test_porteur_is_refused_actions_and_other_projects(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    mine = create_project(client)
    other = create_project(client, kind="territoire")
    porteur = make_user(db, role="porteur", password=PASSWORD)
    link(client, mine["id"], porteur)
    browser = session_as(porteur)
    token = csrf(browser.get("/"))

    refused = browser.post(
        f"/projects/{mine['id']}/transitions",
        data={"csrf_token": token, "action": "abandonner", "comment": "Non."},
    )
    assert refused.status_code == 403
    assert "Votre rôle ne permet pas cette action." in text_of(refused)
    assert client.get(f"/api/v1/projects/{mine['id']}").json()["state"] == "groupe_projet"

    hidden_project = browser.get(f"/projects/{other['id']}")
    assert hidden_project.status_code == 404
    assert "Page introuvable" in text_of(hidden_project)
    assert other["name"] not in text_of(hidden_project)
    # Drawn for the signed-in porteur: her navigation, as on her own pages.
    assert nav_labels(hidden_project.text) == nav_labels(browser.get("/").text) != []
    assert (
        browser.post(
            f"/projects/{other['id']}/documents",
            data={"csrf_token": token, "type": "autre"},
            files={"file": ("a.pdf", PDF, "application/pdf")},
        ).status_code
        == 404
    )
    for url in ("/projects/new", "/users"):
        assert browser.get(url).status_code == 403, url
    listing = browser.get("/projects")
    assert listing.status_code == 200 and [p.id for p in listing.context["items"]] == [mine["id"]]
    assert 'href="/projects/new"' not in listing.text
    assert browser.post("/projects", data={"csrf_token": token, "name": "X"}).status_code == 403


def test_porteur_uploads_a_document_but_not_the_expertise_report(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project = create_project(client)
    porteur = make_user(db, role="porteur", password=PASSWORD)
    link(client, project["id"], porteur)
    browser = session_as(porteur)
    token = csrf(browser.get("/"))
    url = f"/projects/{project['id']}/documents"
    done = browser.post(
        url,
        data={"csrf_token": token, "type": "note_cadrage"},
        files={"file": ("note.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    html = text_of(browser.get(f"/projects/{project['id']}"))
    assert "note.pdf" in html and typeset("Il manque la pièce « Note de cadrage ».") not in html
    refused = browser.post(
        url,
        data={"csrf_token": token, "type": "rapport_expertise"},
        files={"file": ("rapport.pdf", PDF, "application/pdf")},
    )
    assert refused.status_code == 403
    assert "Votre rôle ne permet pas de déposer ce type de pièce." in text_of(refused)


def test_porteur_with_several_projects_chooses(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    first = create_project(client)
    second = create_project(client, kind="territoire")
    porteur = make_user(db, role="porteur", password=PASSWORD)
    link(client, first["id"], porteur)
    link(client, second["id"], porteur)
    home = session_as(porteur).get("/")
    html = text_of(home)
    assert "<h1>Mes projets</h1>" in html
    assert f'href="/projects/{first["id"]}"' in html and f'href="/projects/{second["id"]}"' in html


def test_porteur_without_project_is_told_what_to_do(
    db: Engine, anonymous: Any, session_as: Callable[[User], TestClient]
) -> None:
    porteur = make_user(db, role="porteur", password=PASSWORD)
    html = text_of(session_as(porteur).get("/"))
    assert "Aucun projet n'est encore lié à votre compte." in html


# --- consultant and bureau ---------------------------------------------------------------------


def test_consultant_sees_assigned_projects_and_uploads_the_report_only(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    assigned = walk_to(client, create_project(client), "prefiguration")
    other = create_project(client, kind="territoire")
    consultant = make_user(db, role="consultant", name="Claire Martin", password=PASSWORD)
    assign(client, assigned["id"], consultant)
    browser = session_as(consultant)

    home = text_of(browser.get("/"))
    assert "<h1>Mes projets</h1>" in home
    assert assigned["name"] in home and other["name"] not in home
    assert nav_labels(home) == ["Mes projets", "Mes missions", "Messages", "Parcours", "Aide"]

    page = text_of(browser.get(f"/projects/{assigned['id']}"))
    assert f"<h1>{assigned['name']}</h1>" in page
    for action in ("transitions", "stakeholders", "board-members", "attestations", "consultant"):
        assert f'action="/projects/{assigned["id"]}/{action}"' not in page, action
    assert "/review" not in page and "Suspendre le projet" not in page
    assert sorted(option_values(page, "document-type")) == [
        "annexe_expertise",
        "autre",
        "rapport_expertise",
    ]
    assert browser.get(f"/projects/{other['id']}").status_code == 404


def test_bureau_sees_the_decision_files_read_only(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    at_bureau = walk_to(client, create_project(client), "decision_bureau")
    earlier = create_project(client, kind="territoire")
    member = make_user(db, role="bureau", password=PASSWORD)
    browser = session_as(member)

    home = text_of(browser.get("/"))
    assert "<h1>Dossiers du Bureau</h1>" in home
    assert at_bureau["name"] in home and earlier["name"] not in home
    assert nav_labels(home) == ["Dossiers du Bureau", "Réunions", "Parcours", "Aide"]

    page = text_of(browser.get(f"/projects/{at_bureau['id']}"))
    for section in ("Pièces", "Conseil d'administration", "Historique", "Décision du Bureau"):
        assert section in page
    assert f'action="/projects/{at_bureau["id"]}/decisions"' not in page
    assert 'enctype="multipart/form-data"' not in page  # no upload for the Bureau
    assert browser.get(f"/projects/{earlier['id']}").status_code == 404


# --- staff: navigation, users, members, consultant ---------------------------------------------


def test_staff_navigation_and_admin_only_user_management(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    admin_home = client.get("/")
    assert "<h1>Tableau de bord</h1>" in admin_home.text
    nav = nav_of(text_of(admin_home))
    assert nav.main == ["Tableau de bord", "Projets", "Bureau", "Messages", "Aide"]
    assert nav.group_label == "Administration"
    assert nav.group == [
        "État du réseau",
        "Parcours",
        "Comptes",
        "Tâches",
        "Courriels envoyés",
        "Webhooks",
        "API",
    ]
    staff = make_user(db, role="staff", password=PASSWORD)
    browser = session_as(staff)
    assert "Comptes" not in nav_labels(text_of(browser.get("/")))
    assert browser.get("/users").status_code == 403


STAFF_MAIN = ["Tableau de bord", "Projets", "Bureau", "Messages", "Aide"]
ADMIN_GROUP = ["Comptes", "Tâches", "Courriels envoyés", "Webhooks"]
# Who, as (role, administrator, régions), and the navigation they get: the bar's entries, then
# the « Administration » group's (none: no group).
NAVIGATIONS: dict[str, tuple[tuple[str, bool, list[str]], list[str], list[str]]] = {
    "porteur": (("porteur", False, []), ["Mon projet", "Messages", "Parcours", "Aide"], []),
    "consultant": (
        ("consultant", False, []),
        ["Mes projets", "Mes missions", "Messages", "Parcours", "Aide"],
        [],
    ),
    "bureau": (("bureau", False, []), ["Dossiers du Bureau", "Réunions", "Parcours", "Aide"], []),
    "staff": (("staff", False, []), STAFF_MAIN, ["État du réseau", "Parcours", "API"]),
    "admin": (("staff", True, []), STAFF_MAIN, ["État du réseau", "Parcours", *ADMIN_GROUP, "API"]),
    # Webhooks carry every région's facts: not for a regional administrator.
    "regional admin": (
        ("staff", True, ["Hauts-de-France"]),
        STAFF_MAIN,
        ["État du réseau", "Parcours", "Comptes", "Tâches", "Courriels envoyés", "API"],
    ),
}


@pytest.mark.parametrize("who", list(NAVIGATIONS))
def test_each_role_s_navigation_is_grouped_leads_to_its_pages_and_marks_the_current_one(
    who: str, client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    (role, is_admin, regions), main, group = NAVIGATIONS[who]
    user = make_user(
        db, role=role, is_admin=is_admin, regions=regions, name="Awa Diallo", password=PASSWORD
    )
    if role == "porteur":
        link(client, create_project(client)["id"], user)
    browser = session_as(user)
    home = browser.get("/")
    assert home.status_code == 200
    nav = nav_of(text_of(home))
    assert (nav.main, nav.group) == (main, group)
    assert nav.group_label == ("Administration" if group else "")
    assert nav.current == [main[0]] and nav.hrefs[main[0]] == "/"
    assert "Menu" in text_of(home)  # the phone's button (templates/_nav.html)
    # Every entry opens its page (none is refused), which marks it as the current one, and the
    # group's button too when the entry is in the group.
    for label in main + group:
        href = nav.hrefs[label]
        page = browser.get(href)
        assert page.status_code == 200, (who, href)
        if href == "/docs":  # Swagger UI, not one of our pages
            continue
        shown = nav_of(text_of(page))
        assert shown.current == [label], (who, href, shown.current)
        assert shown.group_current == (label in group), (who, href)
    # The account and the bell are every role's, outside the entries.
    account = browser.get("/account")
    shown = nav_of(text_of(account))
    assert shown.current == ["Mon compte"] and not shown.group_current
    assert shown.account.startswith("Mon compte") and "Awa Diallo" in shown.account
    notifications = text_of(browser.get("/notifications"))
    assert nav_of(notifications).current == []
    bell = re.search(r'<a class="bell" href="/notifications"[^>]*>', notifications)
    assert bell and 'aria-current="page"' in bell.group(0)


def test_admin_creates_filters_and_deactivates_users(
    client: Any, db: Engine, app: Any, session_as: Callable[[User], TestClient]
) -> None:
    short = client.post(
        "/users",
        data={
            "email": "awa@example.org",
            "name": "Awa Diallo",
            "role": "porteur",
            "password": "court",
        },
    )
    assert short.status_code == 422
    html = text_of(short)
    assert "Le mot de passe doit compter au moins 12 caractères." in html
    assert 'value="awa@example.org"' in html and "court" not in html

    created = client.post(
        "/users",
        data={
            "email": "Awa@Example.org",
            "name": "Awa Diallo",
            "role": "porteur",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    user_url = created.headers["location"].split("?")[0]
    assert "Le compte a été créé." in text_of(client.get(created.headers["location"]))
    twice = client.post(
        "/users", data={"email": "awa@example.org", "name": "Autre", "role": "porteur"}
    )
    assert twice.status_code == 409
    assert "Un compte existe déjà avec cette adresse e-mail." in text_of(twice)

    listing = text_of(client.get("/users?role=porteur&active=oui"))
    assert "Awa Diallo" in listing and "awa@example.org" in listing
    assert "Awa Diallo" not in text_of(client.get("/users?role=consultant"))

    # Signed in elsewhere, with a session and a token.
    awa = TestClient(app)
    with awa:
        assert login(awa, "awa@example.org").status_code == 303
        assert awa.get("/").status_code == 200
        token = awa.post(
            "/api/v1/me/tokens", json={"name": "x"}, headers={"x-csrf-token": csrf(awa.get("/"))}
        ).json()["token"]
        deactivated = client.post(
            user_url + "/deactivate", data={"confirm": "1"}, follow_redirects=False
        )
        assert deactivated.status_code == 303
        # The next request of that user is refused, session and token alike.
        again = awa.get("/", follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"].startswith("/login")
        api = awa.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 401
        assert login(awa, "awa@example.org").status_code == 401

    assert "Awa Diallo" in text_of(client.get("/users?active=non"))
    assert "Awa Diallo" not in text_of(client.get("/users?active=oui"))
    assert client.post(user_url + "/reactivate", follow_redirects=False).status_code == 303
    changed = client.post(
        user_url,
        data={"name": "Awa Diallo-Sow", "role": "porteur", "is_admin": "on"},
    )
    assert changed.status_code == 422
    assert "Seul un membre de l'équipe nationale peut être administrateur." in text_of(changed)
    assert (
        client.post(
            user_url, data={"name": "Awa Diallo-Sow", "role": "porteur"}, follow_redirects=False
        ).status_code
        == 303
    )
    assert "Awa Diallo-Sow" in text_of(client.get(user_url))


def test_admin_cannot_deactivate_themselves(client: Any, staff_user: User) -> None:
    response = client.post(f"/users/{staff_user.id}/deactivate", data={"confirm": "1"})
    assert response.status_code == 409
    assert "Vous ne pouvez pas vous retirer vos propres droits" in text_of(response)


def test_link_and_unlink_porteurs_from_the_project_page(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project = create_project(client)
    pid = project["id"]
    porteur = make_user(db, role="porteur", name="Awa Diallo", password=PASSWORD)
    make_user(db, role="consultant", name="Pas un porteur")
    page = text_of(client.get(f"/projects/{pid}"))
    assert "Porteurs liés" in page
    assert option_values(page, "member-user_id") == [str(porteur.id)]

    browser = session_as(porteur)
    assert browser.get(f"/projects/{pid}").status_code == 404
    done = client.post(
        f"/projects/{pid}/members", data={"user_id": str(porteur.id)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/projects/{pid}?fait=porteur_lie#porteurs"
    assert browser.get(f"/projects/{pid}").status_code == 200
    page = text_of(client.get(f"/projects/{pid}"))
    assert typeset("Compte de « Awa Diallo » lié au projet.") in page
    assert f'action="/projects/{pid}/members/{porteur.id}/delete"' in page

    refused = client.post(f"/projects/{pid}/members", data={"user_id": ""})
    assert refused.status_code == 422
    removed = client.post(f"/projects/{pid}/members/{porteur.id}/delete", follow_redirects=False)
    assert removed.status_code == 303
    # Removing the link takes effect on the porteur's next request.
    assert browser.get(f"/projects/{pid}").status_code == 404


def test_consultant_is_chosen_among_consultant_accounts(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project = walk_to(client, create_project(client), "prefiguration")
    pid = project["id"]
    claire = make_user(db, role="consultant", name="Claire Martin", password=PASSWORD)
    make_user(db, role="porteur", name="Pas une consultante")
    page = text_of(client.get(f"/projects/{pid}"))
    assert option_values(page, "consultant-user_id") == [str(claire.id)]
    assert "Claire Martin (" in page

    browser = session_as(claire)
    assert browser.get(f"/projects/{pid}").status_code == 404
    done = client.post(
        f"/projects/{pid}/consultant",
        data={"user_id": str(claire.id), "version": str(project["version"])},
        follow_redirects=False,
    )
    assert done.status_code == 303
    # Designated, not yet in charge: the project stays hidden until her declaration.
    assert browser.get(f"/projects/{pid}").status_code == 404
    html = text_of(client.get(f"/projects/{pid}"))
    assert "<strong>Claire Martin</strong>" in html
    assert "En attente de la déclaration d'indépendance" in html
    assert "consultant-user_id" not in html  # one assignment at a time
    # The history names who did it.
    assert "Camille Roussel" in html
    (assignment,) = client.get(f"/api/v1/projects/{pid}/assignments").json()
    declare(client_for(client, claire.id or 0), assignment["id"])
    assert browser.get(f"/projects/{pid}").status_code == 200


# --- everyone: the account page, sign-in and sign-out ------------------------------------------


def test_account_page_creates_a_token_shown_once_and_revokes_it(
    db: Engine, anonymous: Any, session_as: Callable[[User], TestClient]
) -> None:
    porteur = make_user(db, role="staff", name="Awa Diallo", password=PASSWORD)
    browser = session_as(porteur)
    page = browser.get("/account")
    html = text_of(page)
    assert "<h1>Mon compte</h1>" in html
    assert "Awa Diallo" in html and porteur.email in html and "Équipe nationale" in html
    assert "Vous n'avez encore aucun jeton." in html

    refused = browser.post("/account/tokens", data={"csrf_token": csrf(page), "name": " "})
    assert refused.status_code == 422
    created = browser.post("/account/tokens", data={"csrf_token": csrf(page), "name": "Export"})
    assert created.status_code == 201
    raw = hidden_token(created.text)
    assert "il ne sera plus jamais affiché" in text_of(created)
    again = browser.get("/account")
    assert raw not in again.text and raw[:10] + "…" in text_of(again)

    api = anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 200 and api.json()["email"] == porteur.email
    assert "Jamais" not in text_of(browser.get("/account")).split("Export")[1].split("</tr>")[0]

    token_id = browser.get("/api/v1/me/tokens").json()[0]["id"]
    revoked = browser.post(
        f"/account/tokens/{token_id}/revoke",
        data={"csrf_token": csrf(again)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert "Révoqué le" in text_of(browser.get("/account"))
    assert (
        anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    )


def test_technical_links_are_for_staff_and_the_json_twins_stay_reachable(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project = walk_to(client, create_project(client), "decision_bureau")
    pid = project["id"]
    porteur = make_user(db, role="porteur", password=PASSWORD)
    link(client, pid, porteur)
    expertise = walk_to(client, create_project(client), "prefiguration")["id"]
    consultant = make_user(db, role="consultant", password=PASSWORD)
    assign(client, expertise, consultant)
    member = make_user(db, role="bureau", password=PASSWORD)
    workflow = f"/workflows/{project['workflow_key']}"
    for user, shown, pages in (
        (porteur, pid, ["/", f"/projects/{pid}", "/account", "/workflows", workflow]),
        (consultant, expertise, ["/", f"/projects/{expertise}", "/assignments", workflow]),
        (member, pid, ["/", f"/projects/{pid}", "/account", "/workflows"]),
    ):
        browser = session_as(user)
        for url in pages:
            response = browser.get(url)
            assert response.status_code == 200, (user.role, url)
            html = text_of(response)
            assert 'class="json-link"' not in html, (user.role, url)
            assert "Version JSON" not in html and 'href="/docs"' not in html, (user.role, url)
            assert "Jetons d'API" not in html and "API" not in nav_labels(html), (user.role, url)
            # The twin is still there for a program: the head's alternate link, and its URL.
            twin = response.context.get("json_url")
            if twin:
                assert browser.get(twin).status_code == 200, (user.role, twin)
        assert browser.get(f"/api/v1/projects/{shown}").status_code == 200
        assert browser.get("/api/v1/me/tokens").status_code == 200

    staff_page = text_of(client.get(f"/projects/{pid}"))
    assert f'class="json-link" href="/api/v1/projects/{pid}"' in staff_page
    assert "Version JSON de cette page" in staff_page
    staff_account = text_of(client.get("/account"))
    assert "Jetons d'API" in staff_account and 'action="/account/tokens"' in staff_account


def test_a_token_holder_who_is_not_staff_may_still_revoke_it(
    db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    porteur = make_user(db, role="porteur", password=PASSWORD)
    browser = session_as(porteur)
    # Created through the API (a session's writes carry its anti-forgery token in a header).
    page = browser.get("/account")
    assert "Jetons d'API" not in text_of(page)
    headers = {"X-CSRF-Token": csrf(page)}
    created = browser.post("/api/v1/me/tokens", json={"name": "Export"}, headers=headers)
    assert created.status_code == 201, created.text
    html = text_of(browser.get("/account"))
    assert "Jetons d'API" in html and "Export" in html and "Révoquer" in html
    assert 'action="/account/tokens"' not in html  # no new token from the page


def test_the_workflow_page_folds_the_mermaid_source_away(
    db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    browser = session_as(make_user(db, role="porteur", password=PASSWORD))
    html = browser.get("/workflows/regie-de-quartier").text
    assert "Schéma du parcours" in html
    details = re.search(r"<details[^>]*>\s*<summary>([^<]+)</summary>(.*?)</details>", html, re.S)
    assert details, "the Mermaid source is not folded in a <details>"
    assert "open" not in details.group(0).split(">", 1)[0]
    assert "flowchart" in details.group(2) or "stateDiagram" in details.group(2)
    outside = html.replace(details.group(0), "")
    assert '<pre class="code">' not in outside


def hidden_token(html: str) -> str:
    match = re.search(r'id="nouveau-jeton"[^>]*value="([^"]+)"', html)
    assert match, "the new token is not shown"
    return match.group(1)


def test_forms_without_the_anti_forgery_token_are_refused(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    staff = make_user(db, role="staff", password=PASSWORD)
    browser = session_as(staff)
    response = browser.post("/account/tokens", data={"name": "Export"})
    assert response.status_code == 403
    assert "Le formulaire a expiré" in text_of(response)
    assert browser.get("/api/v1/me/tokens").json() == []


def test_login_answers_the_same_for_unknown_email_and_wrong_password(
    db: Engine, anonymous: Any
) -> None:
    user = make_user(db, role="porteur", password=PASSWORD)
    page = anonymous.get("/")
    assert page.status_code == 200 and "<h1>Connexion</h1>" in page.text  # redirected
    wrong = login(anonymous, user.email, "mauvais mot de passe")
    unknown = login(anonymous, "personne@example.org", "mauvais mot de passe")
    assert wrong.status_code == unknown.status_code == 401
    message = "Adresse e-mail ou mot de passe incorrect."
    assert message in text_of(wrong) and message in text_of(unknown)
    assert 'value="personne@example.org"' in unknown.text
    assert "mauvais mot de passe" not in unknown.text
    assert 'class="nav"' not in unknown.text


def test_logout_ends_the_session(db: Engine, session_as: Callable[[User], TestClient]) -> None:
    user = make_user(db, role="bureau", password=PASSWORD)
    browser = session_as(user)
    home = browser.get("/")
    assert home.status_code == 200
    out = browser.post("/logout", data={"csrf_token": csrf(home)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    after = browser.get("/", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login")


def test_login_returns_to_the_page_asked_for(client: Any, db: Engine, app: Any) -> None:
    project = create_project(client)
    porteur = make_user(db, role="porteur", password=PASSWORD)
    link(client, project["id"], porteur)
    with TestClient(app) as browser:
        asked = browser.get(f"/projects/{project['id']}", follow_redirects=False)
        assert asked.status_code == 303
        assert asked.headers["location"] == f"/login?next=%2Fprojects%2F{project['id']}"
        done = login(browser, porteur.email, next_url=f"/projects/{project['id']}")
        assert done.headers["location"] == f"/projects/{project['id']}"
        assert "<h1>Mon projet</h1>" in browser.get(done.headers["location"]).text


def test_role_pages_have_labels_and_no_inline_script(
    client: Any, db: Engine, session_as: Callable[[User], TestClient]
) -> None:
    project = create_project(client)
    upload(client, project["id"], "note_cadrage")
    porteur = make_user(db, role="porteur", password=PASSWORD)
    link(client, project["id"], porteur)
    pages = [
        (client, "/users"),
        (client, f"/users/{porteur.id}"),
        (client, "/account"),
        (client, f"/projects/{project['id']}"),
        (session_as(porteur), "/"),
    ]
    for who, url in pages:
        html = who.get(url).text
        assert " style=" not in html, url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
        labels = set(re.findall(r'<label for="([^"]+)"', html))
        assert ids <= labels, (url, ids - labels)


# --- everyone: the « Aide » page ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["porteur", "staff", "consultant", "bureau"])
def test_help_page_for_each_role(
    role: str, app: Any, db: Engine, settings: Any, session_as: Callable[[User], TestClient]
) -> None:
    browser = session_as(make_user(db, role=role, password=PASSWORD))
    home = browser.get("/")
    assert home.status_code == 200
    assert "Aide" in nav_labels(text_of(home)) and 'href="/aide"' in home.text

    page = browser.get("/aide")
    assert page.status_code == 200
    html = text_of(page)
    assert "<h1>Aide</h1>" in html and 'aria-current="page">Aide</a>' in html
    # The six steps in plain words, from the definition: labels in order, their descriptions.
    definition = app.state.workflows.latest()[0]
    steps = definition.steps()
    assert len(steps) == 6 and "Les 6 étapes d'un projet" in html
    shown = re.findall(r"<li>\s*<h3>([^<]+?)\s*(?:<span|</h3>)", html)
    assert shown == [s.label for s in steps]
    for step in steps:
        assert step.description.split(" : ")[0] in html, step.key
    # Who does what: the viewer's own role first, then the others, the four of them.
    headings = re.findall(r'<div class="help-role">\s*<h3>([^<]+?)\s*(?:<span|</h3>)', html)
    order = ["porteur", "staff", "consultant", "bureau"]
    expected = [role, *(r for r in order if r != role)]
    assert headings == [ROLE_LABELS[r] for r in expected]
    assert html.count("C'est vous") == 1
    assert "Expertise sur site" in html and "rapport d'expertise" in html
    # How to reach the national team.
    assert f'<a href="mailto:{settings.contact_email}">{settings.contact_email}</a>' in html
    assert "Mot de passe oublié" in html
    assert " style=" not in html and 'class="json-link"' not in html


def test_help_page_needs_a_sign_in_and_names_the_configured_contact(
    anonymous: Any, db: Engine, settings: Any
) -> None:
    asked = anonymous.get("/aide", follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"].startswith("/login")
    contact = {"contact_email": "labels@regies.example"}
    other = create_app(settings.model_copy(update=contact), db=db)
    user = make_user(db, role="porteur", password=PASSWORD)
    with TestClient(other) as browser:
        assert login(browser, user.email).status_code == 303
        html = browser.get("/aide").text
    assert 'href="mailto:labels@regies.example"' in html
