"""French wording: the helper module, dates as typed and read, and every enumerated field of the
API refused in French with the values' labels."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from labelflow import dates
from labelflow.french import NBSP, NNBSP, de, elide, plural, typeset, typeset_html
from tests.factories import create_project, upload


def test_plural_takes_the_singular_below_two() -> None:
    assert plural(0, "projet suspendu") == "0 projet suspendu"
    assert plural(1, "projet suspendu") == "1 projet suspendu"
    assert plural(2, "projet suspendu") == "2 projets suspendus"
    assert plural(8, "critère") == "8 critères"
    assert plural(3, "prix") == "3 prix"
    assert plural(3, "critère non rempli", "critères non remplis") == "3 critères non remplis"


def test_elision_before_a_vowel_and_contractions() -> None:
    assert f"Ville {de('Amiens')}" == "Ville d'Amiens"
    assert f"Ville {de('Roubaix')}" == "Ville de Roubaix"
    assert f"Ville {de('Le Havre')}" == "Ville du Havre"
    assert f"Ville {de('Les Ulis')}" == "Ville des Ulis"
    assert f"Ville {de('Hautmont')}" == "Ville de Hautmont"  # aspirated h
    assert de("Évry") == "d'Évry"
    assert elide("Régie de le Alma") == "Régie de l'Alma"
    assert elide("Ville de Amiens") == "Ville d'Amiens"
    assert elide("Port de le Havre") == "Port du Havre"
    assert elide("Ville de Lille") == "Ville de Lille"


def test_typeset_puts_no_break_spaces() -> None:
    assert typeset("Étape : « Groupe projet » ; sûr ? oui !") == (
        f"Étape{NBSP}: «{NBSP}Groupe projet{NBSP}»{NNBSP}; sûr{NNBSP}? oui{NNBSP}!"
    )
    assert typeset("«collé»") == f"«{NBSP}collé{NBSP}»"
    assert typeset(typeset("a : b")) == typeset("a : b")  # idempotent
    assert typeset("20:40, https://x.fr/?a=1") == "20:40, https://x.fr/?a=1"


def test_typeset_html_leaves_tags_scripts_and_typed_text_alone() -> None:
    html = (
        '<p title="a : b">Nom : <b>« x »</b> ?</p><textarea>typé : tel quel</textarea>'
        "<script>a ? b : c</script>"
    )
    assert typeset_html(html) == (
        f'<p title="a : b">Nom{NBSP}: <b>«{NBSP}x{NBSP}»</b>{NNBSP}?</p>'
        "<textarea>typé : tel quel</textarea><script>a ? b : c</script>"
    )


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Statut :</p>", f"<p>Statut{NBSP}:</p>"),  # a colon before a tag
        ("12:30 https://x.fr a :b", "12:30 https://x.fr a :b"),  # not before a space
        ('<a title="a ; « b »">c ?</a>', f'<a title="a ; « b »">c{NNBSP}?</a>'),
        ("«  » et «x»", f"«{NBSP}» et «{NBSP}x{NBSP}»"),
        ("a  ;  b !?", f"a{NNBSP};  b{NNBSP}!?"),
        ("<!-- a : b --> <code>c : d</code> e :", f"<!-- a : b --> <code>c : d</code> e{NBSP}:"),
    ],
)
def test_typeset_html_edge_cases(html: str, expected: str) -> None:
    assert typeset_html(html) == expected


def test_french_dates_say_1er() -> None:
    assert dates.french_date(date(2026, 3, 1)) == "1er mars 2026"
    assert dates.french_date(date(2026, 3, 2)) == "2 mars 2026"
    moment = datetime(2026, 11, 30, 23, 30, tzinfo=dates.UTC)  # 1 December in Paris
    assert dates.french_date(moment) == "1er décembre 2026"
    assert dates.french_datetime(moment) == "1er décembre 2026 à 00:30"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("31/02/2026", "Date impossible : février 2026 n'a que 28 jours, le 31 n'existe pas."),
        ("2026-02-30", "Date impossible : février 2026 n'a que 28 jours, le 30 n'existe pas."),
        ("01/01/22026", "Date impossible : l'année 22026 doit s'écrire avec 4 chiffres"),
        ("22026-01-01", "Date impossible : l'année 22026 doit s'écrire avec 4 chiffres"),
        ("12/13/2026", "Date impossible : le mois 13 n'existe pas (de 1 à 12)."),
        ("demain", "Date illisible : écrivez-la au format jj/mm/aaaa, par exemple 15/03/2026."),
    ],
)
def test_impossible_dates_are_explained(typed: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        dates.parse_date(typed)


def test_dates_typed_the_french_way() -> None:
    assert dates.parse_date("1/3/2026") == date(2026, 3, 1)
    assert dates.parse_date("29/02/2028") == date(2028, 2, 29)
    assert dates.parse_date("2026-03-15") == date(2026, 3, 15)


def test_working_days() -> None:
    assert dates.is_working_day(date(2026, 12, 1))  # a Tuesday
    assert not dates.is_working_day(date(2026, 11, 29))  # a Sunday
    assert not dates.is_working_day(date(2026, 7, 14))
    assert not dates.is_working_day(date(2026, 4, 6))  # Easter Monday
    assert not dates.is_working_day(date(2026, 5, 14))  # Ascension


def test_an_impossible_date_is_refused_in_french_by_the_api_and_the_page(client: Any) -> None:
    pid = create_project(client)["id"]
    response = client.patch(
        f"/api/v1/projects/{pid}", json={"charge_mission_recruited_on": "31/02/2026"}
    )
    assert response.status_code == 422
    [field] = response.json()["error"]["fields"]
    assert field == {
        "field": "charge_mission_recruited_on",
        "message": typeset("Date impossible : février 2026 n'a que 28 jours, le 31 n'existe pas."),
    }
    # A date typed jj/mm/aaaa is accepted.
    response = client.patch(
        f"/api/v1/projects/{pid}", json={"charge_mission_recruited_on": "01/03/2026"}
    )
    assert response.status_code == 200
    assert response.json()["charge_mission_recruited_on"] == "2026-03-01"


# --- every enumerated field of the API, refused in French --------------------------------------

ENGLISH = (" or ", "Input should", "value", "Value error", "should be", "expected")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _enum_paths(
    schema: dict[str, Any], node: dict[str, Any], path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], list[Any]]]:
    """Every place in a body schema where a value is one of an `enum`: (path, values)."""
    node = _resolve(schema, node)
    found: list[tuple[tuple[str | int, ...], list[Any]]] = []
    if "enum" in node:
        found.append((path, node["enum"]))
    for option in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
        found += _enum_paths(schema, option, path)
    for name, prop in node.get("properties", {}).items():
        found += _enum_paths(schema, prop, (*path, name))
    if "items" in node:
        found += _enum_paths(schema, node["items"], (*path, 0))
    if isinstance(node.get("additionalProperties"), dict):
        found += _enum_paths(schema, node["additionalProperties"], (*path, "cle"))
    return found


def _minimal(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    """A body with the required fields filled with any value of their type (the wrong value
    under test is set afterwards; other refusals do not matter, only its own message)."""
    node = _resolve(schema, node)
    if "enum" in node:
        return node["enum"][0]
    for option in node.get("anyOf", []):
        if option.get("type") != "null":
            return _minimal(schema, option)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {
            name: _minimal(schema, node["properties"][name]) for name in node.get("required", [])
        }
    if kind == "array":
        return [_minimal(schema, node["items"])] if node.get("minItems") else []
    return {"integer": 1, "number": 1, "boolean": False}.get(str(kind), "x")


def _put(body: Any, path: tuple[str | int, ...], value: Any, schema: dict[str, Any]) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = body if isinstance(body, list) and body else [{}]
        return [_put(items[0], rest, value, schema)]
    container = dict(body) if isinstance(body, dict) else {}
    container[head] = _put(container.get(head, {} if rest else None), rest, value, schema)
    return container


def _enumerated_fields(app: Any) -> list[tuple[str, str, str, Any, tuple[str | int, ...]]]:
    schema = app.openapi()
    cases = []
    for url, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                for path, _ in _enum_paths(schema, parameter.get("schema", {})):
                    cases.append((method, url, "query", parameter["name"], path))
            content = operation.get("requestBody", {}).get("content", {})
            for media, body in content.items():
                for path, _ in _enum_paths(schema, body["schema"]):
                    cases.append((method, url, media, _minimal(schema, body["schema"]), path))
    return cases


def test_every_enumerated_field_is_refused_in_french(app: Any, client: Any) -> None:
    pid = create_project(client)["id"]
    ids = {
        "project_id": pid,
        "user_id": 1,
        "document_id": upload(client, pid, "note_cadrage")["id"],
    }
    cases = _enumerated_fields(app)
    fields = {(url, str(path[-1]) if path else name) for _, url, _, name, path in cases}
    # The walk reaches the vocabularies users know (kinds, colleges, roles, outcomes, votes,
    # assessments, recommendations, initiators, review status).
    names = {name for _, name in fields}
    assert {
        "kind",
        "initiator",
        "college",
        "role",
        "outcome",
        "vote",
        "assessment",
        "recommendation",
        "status",
    } <= names, names
    for method, url, where, body, path in cases:
        target = url.format(**{k: v for k, v in ids.items() if "{" + k + "}" in url})
        if where == "query":
            response = client.request(method, target, params={body: "nimporte"})
        elif where == "application/json":
            wrong = _put(body, path, "nimporte", {})
            response = client.request(method, target, json=wrong)
        else:  # multipart and forms: no enumerated part in them today
            continue
        assert response.status_code == 422, (method, url, path, response.text)
        errors = response.json()["error"]["fields"]
        expected_field = ".".join(str(p) for p in path) or str(body)
        messages = [e["message"] for e in errors if e["field"] == expected_field]
        assert messages, (url, expected_field, errors)
        for message in messages:
            assert message.startswith(typeset("Valeur non reconnue. Choisissez parmi : ")), message
            assert "'" not in message and not any(word in message for word in ENGLISH), message


def test_a_refused_value_is_named_by_its_label(client: Any) -> None:
    pid = create_project(client)["id"]
    response = client.post(
        f"/api/v1/projects/{pid}/stakeholders", json={"name": "X", "college": "mairie"}
    )
    assert response.json()["error"]["fields"] == [
        {
            "field": "college",
            "message": typeset(
                "Valeur non reconnue. Choisissez parmi : Habitants, Collectivité, "
                "Bailleur social, Partenaire socio-économique."
            ),
        }
    ]
    report = client.put(
        f"/api/v1/projects/{pid}/report",
        json={"assessments": {"autonomie": {"assessment": "bien"}}},
    )
    messages = [f["message"] for f in report.json()["error"]["fields"]]
    expected = "Valeur non reconnue. Choisissez parmi : Satisfaisant, À consolider, Insuffisant."
    assert typeset(expected) in messages, report.text
