"""The shipped workflow definitions, their validation, the engine and the diagram."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelflow.workflow import (
    ActionImpossible,
    Engine,
    UnknownAction,
    WorkflowDefinition,
    WorkflowError,
    load_directory,
    load_file,
    mermaid,
    parse_definition,
)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "workflows"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "workflows"
QUARTIER = WORKFLOWS / "regie-de-quartier.yaml"
TERRITOIRE = WORKFLOWS / "regie-de-territoire.yaml"
SOURCE = "regie-de-quartier.yaml"
SHIPPED = 3  # the version of both shipped files
PATH = [
    ("lancer_faisabilite", "faisabilite"),
    ("soumettre_validation", "validation"),
    ("valider_projet", "prefiguration"),
    ("demander_expertise", "expertise"),
    ("transmettre_bureau", "decision_bureau"),
    ("attribuer_label", "labellisee"),
]
NON_FINAL = [
    "groupe_projet",
    "faisabilite",
    "validation",
    "prefiguration",
    "expertise",
    "decision_bureau",
]


def raw(path: Path = QUARTIER) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def quartier() -> WorkflowDefinition:
    return load_file(QUARTIER)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_directory(WORKFLOWS))


# --- The shipped definitions --------------------------------------------------------------


def test_shipped_definitions_load() -> None:
    definitions = load_directory(WORKFLOWS)
    assert [(d.key, d.version, d.project_kind, d.label_prefix) for d in definitions] == [
        ("regie-de-quartier", SHIPPED, "quartier", "RQ"),
        ("regie-de-territoire", SHIPPED, "territoire", "RT"),
    ]
    for definition in definitions:
        assert definition.total_target_months == 36
        assert [(s.key, s.step, s.target_months) for s in definition.steps()] == [
            ("groupe_projet", 1, 6),
            ("faisabilite", 2, 8),
            ("validation", 3, 3),
            ("prefiguration", 4, 14),
            ("expertise", 5, 3),
            ("decision_bureau", 6, 2),
        ]
        assert all(s.description for s in definition.steps())
        assert [s.key for s in definition.states if s.final] == [
            "labellisee",
            "refusee",
            "abandonnee",
        ]
        assert definition.initial_state == "groupe_projet"


def criteria_of(definition: WorkflowDefinition, action: str) -> list[str]:
    found = definition.action(action)
    assert found is not None
    return [
        ":".join([c.kind, *c.colleges, *(v for v in (c.type, c.code, c.field, c.outcome) if v)])
        for c in found.criteria
    ]


@pytest.mark.parametrize(
    ("path", "third_college", "engagement"),
    [
        (QUARTIER, "bailleur", "engagement_bailleur"),
        (TERRITOIRE, "partenaire", "engagement_partenaires"),
    ],
)
def test_shipped_criteria_follow_the_design(
    path: Path, third_college: str, engagement: str
) -> None:
    definition = load_file(path)
    assert criteria_of(definition, "lancer_faisabilite") == [
        f"stakeholders:habitants:collectivite:{third_college}",
        "document:note_cadrage",
        "attestation:portage_collectivite",
        "attestation:convention_amo",
    ]
    assert criteria_of(definition, "soumettre_validation") == [
        "document:etude_faisabilite",
        "attestation:visite_regie",
    ]
    assert criteria_of(definition, "valider_projet") == [
        "document:deliberation_collectivite",
        f"document:{engagement}",
        "document:validation_habitants",
    ]
    assert criteria_of(definition, "demander_expertise") == [
        "document:statuts",
        "document:recepisse_prefecture",
        "field:rna_number",
        "field:charge_mission_recruited_on",
        "governance",
        "consultant_assigned",
    ]
    assert criteria_of(definition, "transmettre_bureau") == ["expertise_report"]
    assert criteria_of(definition, "attribuer_label") == ["bureau_decision:attribution"]
    assert criteria_of(definition, "refuser_label") == ["bureau_decision:refus"]
    assert criteria_of(definition, "ajourner") == ["bureau_decision:ajournement"]
    assert criteria_of(definition, "abandonner") == []
    commented = {a.key for a in definition.actions if a.comment_required}
    assert commented == {"refuser_label", "ajourner", "abandonner"}
    other = (
        "engagement_partenaires" if engagement == "engagement_bailleur" else "engagement_bailleur"
    )
    assert definition.document_type(engagement) is not None
    assert definition.document_type(other) is None
    autre = definition.document_type("autre")
    assert autre is not None and autre.label == "Autre pièce"


def test_lookup_helpers(quartier: WorkflowDefinition) -> None:
    assert quartier.state("expertise").label == "Expertise sur site"
    with pytest.raises(KeyError):
        quartier.state("nulle_part")
    assert quartier.action("nulle_part") is None
    assert [a.key for a in quartier.actions_from("decision_bureau")] == [
        "attribuer_label",
        "refuser_label",
        "ajourner",
        "abandonner",
    ]
    assert quartier.actions_from("labellisee") == []
    abandonner = quartier.action("abandonner")
    assert abandonner is not None and abandonner.sources == NON_FINAL
    assert quartier.is_final("refusee") and not quartier.is_final("expertise")
    attestation = quartier.attestation("visite_regie")
    assert attestation is not None and attestation.label
    assert quartier.attestation("nulle_part") is None


# --- Broken definitions -------------------------------------------------------------------


def action_index(data: dict[str, Any], key: str) -> int:
    return next(i for i, a in enumerate(data["actions"]) if a["key"] == key)


def state_index(data: dict[str, Any], key: str) -> int:
    return next(i for i, s in enumerate(data["states"]) if s["key"] == key)


def add_criterion(action: str, criterion: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["actions"][action_index(data, action)]["criteria"].append(criterion)

    return mutate


def set_in(section: str, index: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data[section][index].update(changes)

    return mutate


def remove_actions(*keys: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["actions"] = [a for a in data["actions"] if a["key"] not in keys]

    return mutate


def append_to(section: str, item: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data[section].append(item)

    return mutate


def delete_in(section: str, index: int, field: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        del data[section][index][field]

    return mutate


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    # name: (mutation of the real quartier file, expected entry, expected words of the message)
    "unknown criterion kind": (
        add_criterion("valider_projet", {"kind": "astrologie"}),
        "actions[2] (valider_projet)",
        "type de critère « astrologie » inconnu",
    ),
    "unknown document type": (
        add_criterion("valider_projet", {"kind": "document", "type": "permis"}),
        "actions[2] (valider_projet)",
        "type de document « permis » non déclaré dans document_types",
    ),
    "unknown attestation": (
        add_criterion("lancer_faisabilite", {"kind": "attestation", "code": "serment"}),
        "actions[0] (lancer_faisabilite)",
        "attestation « serment » non déclarée dans attestations",
    ),
    "document criterion without type": (
        add_criterion("valider_projet", {"kind": "document"}),
        "actions[2] (valider_projet)",
        "exige le paramètre « type »",
    ),
    "governance with a stray parameter": (
        add_criterion("demander_expertise", {"kind": "governance", "code": "x"}),
        "actions[3] (demander_expertise)",
        "n'admet pas le paramètre « code »",
    ),
    "stakeholders without colleges": (
        add_criterion("lancer_faisabilite", {"kind": "stakeholders", "colleges": []}),
        "actions[0] (lancer_faisabilite)",
        "exige le paramètre « colleges »",
    ),
    "unknown college": (
        add_criterion("lancer_faisabilite", {"kind": "stakeholders", "colleges": ["elus"]}),
        "actions[0] (lancer_faisabilite)",
        "valeur « elus » non admise",
    ),
    "unknown field": (
        add_criterion("demander_expertise", {"kind": "field", "field": "pointure"}),
        "actions[3] (demander_expertise)",
        "champ « pointure » inconnu",
    ),
    "bureau decision without outcome": (
        add_criterion("attribuer_label", {"kind": "bureau_decision"}),
        "actions[5] (attribuer_label)",
        "exige le paramètre « outcome »",
    ),
    "misspelt action key": (
        set_in("actions", 1, critera=[]),
        "actions[1] (soumettre_validation)",
        "paramètre inconnu (critera)",
    ),
    "unknown source state": (
        set_in("actions", 1, **{"from": "nulle_part"}),
        "actions[1] (soumettre_validation)",
        "état de départ « nulle_part » inexistant",
    ),
    "wildcard mixed with a state": (
        set_in("actions", 8, **{"from": ["*", "groupe_projet"]}),
        "actions[8] (abandonner)",
        "l'employer seul",
    ),
    "unknown target state": (
        set_in("actions", 1, to="ailleurs"),
        "actions[1] (soumettre_validation)",
        "état d'arrivée « ailleurs » inexistant",
    ),
    "duplicate action key": (
        set_in("actions", 7, key="refuser_label"),
        "actions[7] (refuser_label)",
        "clé « refuser_label » déjà employée",
    ),
    "duplicate state key": (
        append_to("states", {"key": "refusee", "label": "Encore", "final": True}),
        "states[9] (refusee)",
        "clé « refusee » déjà employée",
    ),
    "duplicate document type": (
        append_to("document_types", {"key": "statuts", "label": "Statuts bis"}),
        "document_types[11] (statuts)",
        "clé « statuts » déjà employée",
    ),
    "unreachable final state": (
        remove_actions("attribuer_label"),
        "states[6] (labellisee)",
        "état inaccessible depuis l'état initial « groupe_projet »",
    ),
    "unreachable step": (
        append_to(
            "states", {"key": "sommeil", "label": "En sommeil", "step": 7, "target_months": 1}
        ),
        "states[9] (sommeil)",
        "état inaccessible",
    ),
    "non-final state without way out": (
        remove_actions("abandonner", "soumettre_validation"),
        "states[1] (faisabilite)",
        "aucune action ne permet de quitter cet état non final",
    ),
    "final state with an outgoing action": (
        append_to(
            "actions",
            {"key": "revenir", "label": "Revenir", "from": "labellisee", "to": "prefiguration"},
        ),
        "actions[9] (revenir)",
        "l'état « labellisee » est final",
    ),
    "two initial states": (
        set_in("states", 1, step=1),
        "states[1] (faisabilite)",
        "un seul état initial",
    ),
    "no initial state": (
        set_in("states", 0, step=7),
        "states",
        "aucun état n'a l'étape 1",
    ),
    "gap in steps": (
        set_in("states", 5, step=8),
        "states",
        "étape 6 manquante",
    ),
    "step without target duration": (
        delete_in("states", 2, "target_months"),
        "states[2] (validation)",
        "durée cible (target_months)",
    ),
    "non-final state without step": (
        delete_in("states", 2, "step"),
        "states[2] (validation)",
        "doit avoir une étape",
    ),
    "version zero": (
        lambda data: data.update(version=0),
        "version",
        "supérieur ou égal à 1",
    ),
    "unknown project kind": (
        lambda data: data.update(project_kind="village"),
        "project_kind",
        "valeur « village » non admise",
    ),
    "grid criterion key used twice": (
        lambda data: data["expertise_grid"]["themes"][1]["criteria"].append(
            {"key": "pouvoir_d_agir", "label": "Doublon", "guidance": "Encore."}
        ),
        "expertise_grid",
        "critère « pouvoir_d_agir » déjà employé dans la grille",
    ),
    "grid theme key used twice": (
        lambda data: data["expertise_grid"]["themes"].append(
            {**data["expertise_grid"]["themes"][0], "label": "Bis"}
        ),
        "expertise_grid",
        "thème « habitants_gouvernance » déjà employé",
    ),
    "grid theme without criteria": (
        lambda data: data["expertise_grid"]["themes"][2].update(criteria=[]),
        "expertise_grid",
        "liste vide (themes[2].criteria)",
    ),
    "grid without themes": (
        lambda data: data["expertise_grid"].update(themes=[]),
        "expertise_grid",
        "liste vide (themes)",
    ),
    "grid criterion without guidance": (
        lambda data: data["expertise_grid"]["themes"][0]["criteria"][1].update(guidance=""),
        "expertise_grid",
        "texte vide (themes[0].criteria[1].guidance)",
    ),
    "grid criterion showing unknown facts": (
        lambda data: data["expertise_grid"]["themes"][0]["criteria"][1].update(shows="budget"),
        "expertise_grid",
        "valeur « budget » non admise",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_definition_is_rejected(case: str) -> None:
    mutate, entry, words = BROKEN[case]
    data = copy.deepcopy(raw())
    mutate(data)
    with pytest.raises(WorkflowError) as caught:
        parse_definition(data, source=SOURCE)
    error = caught.value
    assert (error.file, error.entry) == (SOURCE, entry)
    assert str(error).startswith(f"{SOURCE}: {entry}: ")
    assert words in error.message


@pytest.mark.parametrize(
    ("name", "entry", "words"),
    [
        ("syntax-error.yaml", "ligne 6, colonne 11", "syntaxe YAML invalide"),
        ("unknown-criterion.yaml", "actions[0] (attribuer_label)", "« astrologie » inconnu"),
        ("not-a-mapping.yaml", "fichier", "dictionnaire YAML"),
        ("absent.yaml", "fichier", "lecture impossible"),
    ],
)
def test_broken_file_is_rejected(name: str, entry: str, words: str) -> None:
    path = FIXTURES / name
    with pytest.raises(WorkflowError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}: {entry}: ")
    assert words in caught.value.message


def test_same_version_in_two_files_is_rejected(tmp_path: Path) -> None:
    shutil.copy(QUARTIER, tmp_path / "a.yaml")
    shutil.copy(QUARTIER, tmp_path / "b.yml")
    with pytest.raises(WorkflowError) as caught:
        load_directory(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'b.yml'}: key: ")
    assert "déjà définie" in caught.value.message


def test_versions_of_one_key_coexist_in_a_directory(tmp_path: Path) -> None:
    shutil.copy(QUARTIER, tmp_path / "regie-de-quartier.yaml")
    data = raw()
    data["version"] = SHIPPED + 1
    (tmp_path / "regie-de-quartier-v2.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert sorted(d.version for d in load_directory(tmp_path)) == [SHIPPED, SHIPPED + 1]


# --- The expertise grid -------------------------------------------------------------------


@pytest.mark.parametrize(("path", "third"), [(QUARTIER, "bailleurs"), (TERRITOIRE, "partenaires")])
def test_shipped_grids_follow_the_charter(path: Path, third: str) -> None:
    definition = load_file(path)
    grid = definition.expertise_grid
    assert grid is not None
    assert [t.label for t in grid.themes] == [
        "Place des habitants et gouvernance",
        "Partenariat tripartite",
        "Modèle économique",
        "Insertion des personnes éloignées de l'emploi",
        "Ancrage territorial et travail en réseau",
        "Vie associative",
        "Autonomie",
    ]
    criteria = grid.criteria()
    assert all(c.label and c.guidance for c in criteria)
    assert len({c.key for c in criteria}) == len(criteria)
    # The governance criterion shows the board; no other does.
    assert [c.key for c in criteria if c.shows == "board"] == ["majorite_presidence_habitants"]
    assert f"engagement_{third}" in {c.key for c in criteria}
    for key, label in [
        ("annexe_expertise", "Annexe au rapport d'expertise"),
        ("courrier_decision", "Courrier de décision du Bureau"),
    ]:
        doc_type = definition.document_type(key)
        assert doc_type is not None and doc_type.label == label


def test_a_version_without_grid_uses_the_latest_grid_of_its_key() -> None:
    current = load_file(QUARTIER)
    data = raw()
    data["version"] = 1
    del data["expertise_grid"]
    old = parse_definition(data, source="v1")
    assert old.expertise_grid is None
    engine = Engine([old, current, load_file(TERRITOIRE)])
    assert engine.expertise_grid("regie-de-quartier", 1) is current.expertise_grid
    assert engine.expertise_grid("regie-de-quartier", SHIPPED) is current.expertise_grid
    territoire = engine.expertise_grid("regie-de-territoire", SHIPPED)
    assert territoire is not current.expertise_grid


# --- Engine -------------------------------------------------------------------------------


def test_fire_walks_to_the_label(engine: Engine) -> None:
    state = "groupe_projet"
    for action, expected in PATH:
        state = engine.fire("regie-de-quartier", SHIPPED, state, action)
        assert state == expected
    assert (
        engine.fire("regie-de-territoire", SHIPPED, "decision_bureau", "refuser_label") == "refusee"
    )


def test_ajourner_goes_back_to_prefiguration(engine: Engine) -> None:
    assert (
        engine.fire("regie-de-quartier", SHIPPED, "decision_bureau", "ajourner") == "prefiguration"
    )


@pytest.mark.parametrize("state", NON_FINAL)
def test_abandon_from_every_step(engine: Engine, state: str) -> None:
    assert engine.fire("regie-de-territoire", SHIPPED, state, "abandonner") == "abandonnee"


@pytest.mark.parametrize("state", ["labellisee", "refusee", "abandonnee"])
def test_nothing_leaves_a_final_state(engine: Engine, state: str) -> None:
    with pytest.raises(ActionImpossible):
        engine.fire("regie-de-quartier", SHIPPED, state, "abandonner")


def test_impossible_and_unknown_actions(engine: Engine) -> None:
    with pytest.raises(ActionImpossible) as impossible:
        engine.fire("regie-de-quartier", SHIPPED, "groupe_projet", "attribuer_label")
    assert (impossible.value.action, impossible.value.state) == (
        "attribuer_label",
        "groupe_projet",
    )
    assert "n'est pas possible depuis l'état « groupe_projet »" in str(impossible.value)
    with pytest.raises(ActionImpossible):
        engine.fire("regie-de-quartier", SHIPPED, "nulle_part", "abandonner")
    with pytest.raises(UnknownAction) as unknown:
        engine.fire("regie-de-quartier", SHIPPED, "groupe_projet", "tout_valider")
    assert unknown.value.action == "tout_valider"


def test_no_hidden_triggers_and_no_retained_subject(
    engine: Engine, quartier: WorkflowDefinition
) -> None:
    for state in quartier.states:
        with pytest.raises(UnknownAction):
            engine.fire("regie-de-quartier", SHIPPED, "groupe_projet", f"to_{state.key}")
    engine.fire("regie-de-quartier", SHIPPED, "groupe_projet", "lancer_faisabilite")
    # White-box: the Machine must only know the definition's actions and hold no model.
    machine = engine._machines[("regie-de-quartier", SHIPPED)]
    assert set(machine.events) == {a.key for a in quartier.actions}
    assert machine.models == []


def test_versions_coexist_in_one_engine() -> None:
    v1 = load_file(QUARTIER)
    data = raw()
    data["version"] = SHIPPED + 1
    data["label"] = "Régie de Quartier (v2)"
    data["actions"][action_index(data, "ajourner")]["to"] = "expertise"
    v2 = parse_definition(data, source="v2")
    engine = Engine([v2, v1, load_file(TERRITOIRE)])
    assert engine.definition("regie-de-quartier", SHIPPED) is v1
    assert engine.definition("regie-de-quartier") is v2
    assert engine.definition("regie-de-quartier", SHIPPED) != engine.definition("regie-de-quartier")
    # A project stays on the version it started with.
    assert (
        engine.fire("regie-de-quartier", SHIPPED, "decision_bureau", "ajourner") == "prefiguration"
    )
    assert (
        engine.fire("regie-de-quartier", SHIPPED + 1, "decision_bureau", "ajourner") == "expertise"
    )
    assert [(d.key, d.version) for d in engine.latest()] == [
        ("regie-de-quartier", SHIPPED + 1),
        ("regie-de-territoire", SHIPPED),
    ]
    assert engine.for_kind("quartier") is v2
    assert engine.for_kind("territoire").key == "regie-de-territoire"
    with pytest.raises(KeyError):
        engine.definition("regie-de-village")
    with pytest.raises(KeyError):
        engine.definition("regie-de-quartier", SHIPPED + 2)
    with pytest.raises(ValueError, match="fournie deux fois"):
        Engine([v1, v1])


# --- Diagram ------------------------------------------------------------------------------


def test_mermaid_shows_every_state_and_action(quartier: WorkflowDefinition) -> None:
    text = mermaid(quartier)
    assert text.startswith("stateDiagram-v2\n")
    for state in quartier.states:
        assert f"{state.key}: {state.label}" in text
    for action in quartier.actions:
        assert f": {action.label}\n" in text
    assert "    [*] --> groupe_projet\n" in text
    assert "    decision_bureau --> prefiguration: Ajourner\n" in text
    assert text.count(": Abandonner le projet\n") == len(NON_FINAL)
    for final in ("labellisee", "refusee", "abandonnee"):
        assert f"    {final} --> [*]\n" in text
