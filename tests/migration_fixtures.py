"""A newer version of the quartier definition, and projects in every state on the shipped one,
for the migration tests (service, command line, API, pages, browser)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from labelflow.settings import PROJECT_ROOT
from tests import factories as f

SHIPPED = 3  # the version of the files in workflows/
NEXT = SHIPPED + 1
KEY = "regie-de-quartier"
# The migration's mapping: the feasibility step is renamed.
RENAMED = ("faisabilite", "etude_prealable")


def write_next_version(tmp_path: Path, *, mapping: bool = True) -> Path:
    """workflows/ copied, with the quartier definition at version 4: `faisabilite` renamed
    `etude_prealable` (mapped by its `migration` section unless `mapping` is False), the
    préfiguration's target 14 → 12 months, the label's 36 → 40 months, `convention_amo` no
    longer needed, a new attestation `charte_signee` needed to ask for the expertise, and in the
    grid `pouvoir_d_agir` replaced by `vie_de_quartier`."""
    target = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", target)
    path = target / f"{KEY}.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    old, new = RENAMED
    data["version"] = NEXT
    data["total_target_months"] = 40
    for state in data["states"]:
        if state["key"] == old:
            state["key"] = new
            state["label"] = "Étude préalable"
        if state["key"] == "prefiguration":
            state["target_months"] = 12
    data["attestations"].append(
        {"key": "charte_signee", "label": "Charte nationale signée", "description": "Signée."}
    )
    for action in data["actions"]:
        if action["to"] == old:
            action["to"] = new
        if action["from"] == old:
            action["from"] = new
        if action["key"] == "lancer_faisabilite":
            action["criteria"] = [
                c for c in action["criteria"] if c.get("code") != "convention_amo"
            ]
        if action["key"] == "demander_expertise":
            action["criteria"].append({"kind": "attestation", "code": "charte_signee"})
    theme = data["expertise_grid"]["themes"][0]
    theme["criteria"] = [c for c in theme["criteria"] if c["key"] != "pouvoir_d_agir"] + [
        {
            "key": "vie_de_quartier",
            "label": "Présence dans la vie du quartier",
            "guidance": "La Régie prend part aux fêtes, conseils citoyens et associations.",
        }
    ]
    if mapping:
        data["migration"] = {"from": SHIPPED, "states": {old: new}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def projects_in_every_state(client: Any) -> dict[str, dict[str, Any]]:
    """One project on the shipped version in each state (a draft report at the expertise, one
    suspended at the feasibility step), keyed by a name telling which."""
    made: dict[str, dict[str, Any]] = {}
    for state in ("groupe_projet", "faisabilite", "validation", "prefiguration"):
        made[state] = f.walk_to(client, f.create_project(client, name=f"Projet {state}"), state)
    suspended = f.walk_to(client, f.create_project(client, name="Projet suspendu"), "faisabilite")
    r = client.post(f"/api/v1/projects/{suspended['id']}/suspend", json={"comment": "Élections."})
    assert r.status_code == 200, r.text
    made["suspendu"] = r.json()
    expertise = f.walk_to(client, f.create_project(client, name="Projet expertise"), "expertise")
    consultant = f.consultant_client(client, expertise["id"])
    grid = consultant.get(f"/api/v1/projects/{expertise['id']}/report").json()
    body = f.report_body(grid, skip=("engagement_collectivite",))
    r = consultant.put(
        f"/api/v1/projects/{expertise['id']}/report", json=body, headers={"If-Match": "0"}
    )
    assert r.status_code == 200, r.text
    made["expertise"] = expertise
    made["decision_bureau"] = f.walk_to(
        client, f.create_project(client, name="Projet Bureau"), "decision_bureau"
    )
    for outcome, action in (("attribution", "attribuer_label"), ("refus", "refuser_label")):
        project = f.walk_to(
            client, f.create_project(client, name=f"Projet {outcome}"), "decision_bureau"
        )
        f.decide(client, project["id"], outcome, motivation="Délibération du Bureau.")
        made[outcome] = f.fire(client, project["id"], action, comment="Décision du Bureau.")
    abandoned = f.create_project(client, name="Projet abandonné")
    made["abandon"] = f.fire(client, abandoned["id"], "abandonner", comment="Plus de porteur.")
    return made
