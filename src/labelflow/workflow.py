"""Workflow definitions (``workflows/*.yaml``): validation, state machines and diagrams.

The labelling path is data, not code: a definition is loaded and checked once at start-up, and
one ``transitions`` Machine is built per (key, version) so that requests only ever fire events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from transitions import Machine, MachineError

try:  # The C loader is ~10x faster; fall back when PyYAML was built without libyaml.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

College = Literal["habitants", "collectivite", "bailleur", "partenaire"]
COLLEGE_LABELS: dict[str, str] = {
    "habitants": "Habitants",
    "collectivite": "Collectivité",
    "bailleur": "Bailleur social",
    "partenaire": "Partenaire socio-économique",
}
CriterionKind = Literal[
    "stakeholders",
    "document",
    "attestation",
    "field",
    "governance",
    "consultant_assigned",
    "expertise_report",
    "bureau_decision",
]
BureauOutcome = Literal["attribution", "refus", "ajournement"]
KNOWN_FIELDS: dict[str, str] = {
    "rna_number": "numéro RNA",
    "charge_mission_recruited_on": "date de recrutement du ou de la chargé·e de mission",
    "association_name": "nom de l'association",
    "association_created_on": "date de création de l'association",
}
ALL_NON_FINAL = "*"

# Which parameter each criterion kind takes; every other parameter must stay empty so that a
# misplaced key in the YAML is reported instead of being silently ignored.
_PARAMETER_OF_KIND: dict[str, str | None] = {
    "stakeholders": "colleges",
    "document": "type",
    "attestation": "code",
    "field": "field",
    "governance": None,
    "consultant_assigned": None,
    "expertise_report": None,
    "bureau_decision": "outcome",
}
_KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
_KEY = re.compile(_KEY_PATTERN)


class _Frozen(BaseModel):
    # Definitions are shared by every request: forbid mutation and unknown YAML keys (typos).
    model_config = ConfigDict(frozen=True, extra="forbid")


class Criterion(_Frozen):
    kind: CriterionKind
    colleges: list[College] = []
    type: str | None = None
    code: str | None = None
    field: str | None = None
    outcome: BureauOutcome | None = None

    @model_validator(mode="after")
    def _parameters_match_kind(self) -> Criterion:
        expected = _PARAMETER_OF_KIND[self.kind]
        for name in ("colleges", "type", "code", "field", "outcome"):
            given = bool(getattr(self, name))
            if name == expected and not given:
                raise ValueError(f"le critère « {self.kind} » exige le paramètre « {name} »")
            if name != expected and given:
                raise ValueError(f"le critère « {self.kind} » n'admet pas le paramètre « {name} »")
        if self.kind == "field" and self.field not in KNOWN_FIELDS:
            known = ", ".join(KNOWN_FIELDS)
            raise ValueError(f"champ « {self.field} » inconnu ; champs possibles : {known}")
        return self


class ExpectedDocument(_Frozen):
    """A document a step expects: several files or one (a new one replaces the last), and
    whether its criterion needs it accepted by staff or only given (and not refused)."""

    type: str = Field(pattern=_KEY_PATTERN)
    multiple: bool = False
    needs: Literal["accepted", "given"] = "accepted"


class StateDef(_Frozen):
    key: str = Field(pattern=_KEY_PATTERN)
    label: str = Field(min_length=1)
    step: int | None = Field(default=None, ge=1)
    target_months: int | None = Field(default=None, ge=1)
    final: bool = False
    description: str = ""
    # The documents expected at this step, shown to the porteur with their status.
    documents: list[ExpectedDocument] = []


class ActionDef(_Frozen):
    key: str = Field(pattern=_KEY_PATTERN)
    label: str = Field(min_length=1)
    sources: list[str] = Field(validation_alias=AliasChoices("from", "sources"))
    target: str = Field(validation_alias=AliasChoices("to", "target"))
    comment_required: bool = False
    criteria: list[Criterion] = []
    description: str = ""

    @field_validator("sources", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        # YAML authors write `from: faisabilite` for the common single-source case.
        sources = [value] if isinstance(value, str) else value
        if isinstance(sources, list):
            if not sources:
                raise ValueError("au moins un état de départ est requis")
            if ALL_NON_FINAL in sources and len(sources) > 1:
                raise ValueError("« * » désigne déjà tous les états non finaux : l'employer seul")
        return sources


class DocumentTypeDef(_Frozen):
    key: str = Field(pattern=_KEY_PATTERN)
    label: str = Field(min_length=1)
    description: str = ""


# Document types every definition has, appended when its file does not declare them: a file
# attached to a message (satisfies no criterion). Left out of the stored body (dumped with the
# context `{DECLARED_ONLY: True}`) so that a version already loaded keeps its digest.
DECLARED_ONLY = "declared_only"
BUILTIN_DOCUMENT_TYPES = (
    DocumentTypeDef(
        key="piece_jointe",
        label="Pièce jointe",
        description="Un fichier joint à un message du projet.",
    ),
)


class AttestationDef(_Frozen):
    key: str = Field(pattern=_KEY_PATTERN)
    label: str = Field(min_length=1)
    description: str = ""


ASSESSMENTS: dict[str, str] = {
    "satisfaisant": "Satisfaisant",
    "a_consolider": "À consolider",
    "insuffisant": "Insuffisant",
}
RECOMMENDATIONS: dict[str, str] = {
    "favorable": "Favorable",
    "favorable_avec_reserves": "Favorable avec réserves",
    "defavorable": "Défavorable",
}


class GridCriterion(_Frozen):
    """One point the consultant assesses; `guidance` tells what to look at."""

    key: str = Field(pattern=_KEY_PATTERN)
    label: str = Field(min_length=1)
    guidance: str = Field(min_length=1)
    # Facts the report form shows next to the criterion (the board composition).
    shows: Literal["board"] | None = None


class GridTheme(_Frozen):
    key: str = Field(pattern=_KEY_PATTERN)
    label: str = Field(min_length=1)
    criteria: list[GridCriterion] = Field(min_length=1)


class ExpertiseGrid(_Frozen):
    """The expertise report's grid: criteria grouped by the charter's themes."""

    themes: list[GridTheme] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_keys(self) -> ExpertiseGrid:
        themes: set[str] = set()
        criteria: set[str] = set()
        for theme in self.themes:
            if theme.key in themes:
                raise ValueError(f"thème « {theme.key} » déjà employé dans la grille")
            themes.add(theme.key)
            for criterion in theme.criteria:
                if criterion.key in criteria:
                    raise ValueError(f"critère « {criterion.key} » déjà employé dans la grille")
                criteria.add(criterion.key)
        return self

    def criteria(self) -> list[GridCriterion]:
        return [c for theme in self.themes for c in theme.criteria]


class MigrationDef(_Frozen):
    """How the projects on an older version of the same key move to this one
    (`labelflow workflow migrate`): the state each of that version's states becomes. A renamed
    state names its new key; a split state names the part its running projects go to; a state
    left out keeps its key (it must still exist)."""

    from_version: int = Field(ge=1, validation_alias=AliasChoices("from", "from_version"))
    states: dict[str, str] = {}

    @field_validator("states", mode="after")
    @classmethod
    def _keys(cls, states: dict[str, str]) -> dict[str, str]:
        for old, new in states.items():
            for key in (old, new):
                if not isinstance(key, str) or not _KEY.match(key):
                    raise ValueError(f"clé d'état « {key} » invalide")
        return states

    def target_of(self, state: str) -> str:
        return self.states.get(state, state)


def _sources_of(actions: Iterable[ActionDef], kind: str) -> list[str]:
    found: list[str] = []
    for action in actions:
        if any(c.kind == kind for c in action.criteria):
            found += [s for s in action.sources if s not in found]
    return found


@dataclass(frozen=True)
class StateRoles:
    """The parts some states and actions play, read from their criteria (never from their keys).

    - the consultant is assigned before the action requiring `consultant_assigned` and works
      until the action requiring `expertise_report`, which transmits the report to the Bureau;
    - the Bureau's state is the one its decision actions (`bureau_decision`) leave, and each of
      them applies the outcome its criterion names.
    """

    report_action: str | None
    report_state: str | None
    assignable_states: tuple[str, ...]
    bureau_state: str | None
    decision_outcomes: Mapping[str, BureauOutcome]

    @classmethod
    def of(cls, actions: Sequence[ActionDef]) -> StateRoles:
        reporting = [a for a in actions if any(c.kind == "expertise_report" for c in a.criteria)]
        report_state = reporting[0].sources[0] if reporting else None
        assignable = _sources_of(actions, "consultant_assigned")
        if report_state is not None and report_state not in assignable:
            assignable.append(report_state)
        outcomes = {
            a.key: c.outcome
            for a in actions
            for c in a.criteria
            if c.kind == "bureau_decision" and c.outcome is not None
        }
        bureau_states = _sources_of(actions, "bureau_decision")
        return cls(
            report_action=reporting[0].key if reporting else None,
            report_state=report_state,
            assignable_states=tuple(assignable),
            bureau_state=bureau_states[0] if bureau_states else None,
            decision_outcomes=outcomes,
        )


class WorkflowDefinition(_Frozen):
    key: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    version: int = Field(ge=1)
    label: str = Field(min_length=1)
    project_kind: Literal["quartier", "territoire"]
    label_prefix: str = Field(min_length=1)
    total_target_months: int = Field(default=36, ge=1)
    # Field order matters: `actions` is validated after `states` so that "*" can be expanded.
    states: list[StateDef]
    actions: list[ActionDef]
    document_types: list[DocumentTypeDef]
    attestations: list[AttestationDef]
    # Absent from version 1 of the shipped files: see Engine.expertise_grid.
    expertise_grid: ExpertiseGrid | None = None
    # Where the states of an older version go when its projects migrate to this one.
    migration: MigrationDef | None = None

    _states: dict[str, StateDef] = PrivateAttr(default_factory=dict)
    _actions: dict[str, ActionDef] = PrivateAttr(default_factory=dict)
    _document_types: dict[str, DocumentTypeDef] = PrivateAttr(default_factory=dict)
    _attestations: dict[str, AttestationDef] = PrivateAttr(default_factory=dict)
    _roles: StateRoles = PrivateAttr()

    @field_validator("document_types", mode="after")
    @classmethod
    def _add_builtin_types(cls, types: list[DocumentTypeDef]) -> list[DocumentTypeDef]:
        declared = {t.key for t in types}
        return [*types, *(t for t in BUILTIN_DOCUMENT_TYPES if t.key not in declared)]

    @field_serializer("document_types", mode="wrap")
    def _declared_only(
        self,
        types: list[DocumentTypeDef],
        handler: SerializerFunctionWrapHandler,
        info: SerializationInfo,
    ) -> Any:
        # The stored body (`workflow_store`) keeps what the file declared: its digest is the
        # same as before the built-in types existed.
        if isinstance(info.context, dict) and info.context.get(DECLARED_ONLY):
            types = [t for t in types if t not in BUILTIN_DOCUMENT_TYPES]
        return handler(types)

    @field_validator("actions", mode="after")
    @classmethod
    def _expand_wildcard(cls, actions: list[ActionDef], info: ValidationInfo) -> list[ActionDef]:
        # Expanded here, once, so that the Machine, the checks and the diagram all see the real
        # source states (transitions' own "*" would include the final states too).
        states: list[StateDef] | None = info.data.get("states")
        if states is None:  # states are invalid: that error is reported instead
            return actions
        non_final = [state.key for state in states if not state.final]
        return [
            action.model_copy(update={"sources": non_final})
            if action.sources == [ALL_NON_FINAL]
            else action
            for action in actions
        ]

    def model_post_init(self, context: Any, /) -> None:
        # reversed(): the first occurrence wins; duplicates are rejected by parse_definition.
        self._states = {s.key: s for s in reversed(self.states)}
        self._actions = {a.key: a for a in reversed(self.actions)}
        self._document_types = {d.key: d for d in reversed(self.document_types)}
        self._attestations = {a.key: a for a in reversed(self.attestations)}
        self._roles = StateRoles.of(self.actions)

    @property
    def roles(self) -> StateRoles:
        """Which states and actions play the expertise's and the Bureau's parts."""
        return self._roles

    def state(self, key: str) -> StateDef:
        return self._states[key]

    def action(self, key: str) -> ActionDef | None:
        return self._actions.get(key)

    def actions_from(self, state_key: str) -> list[ActionDef]:
        return [action for action in self.actions if state_key in action.sources]

    def steps(self) -> list[StateDef]:
        return sorted((s for s in self.states if not s.final), key=lambda s: s.step or 0)

    def is_final(self, key: str) -> bool:
        return self.state(key).final

    def document_type(self, key: str) -> DocumentTypeDef | None:
        return self._document_types.get(key)

    def attestation(self, key: str) -> AttestationDef | None:
        return self._attestations.get(key)

    def expected_document(self, state_key: str, doc_type: str) -> ExpectedDocument | None:
        """How the step `state_key` expects documents of `doc_type` (None: it does not)."""
        state = self._states.get(state_key)
        if state is None:
            return None
        return next((d for d in state.documents if d.type == doc_type), None)

    @property
    def initial_state(self) -> str:
        for state in self.states:
            if state.step == 1 and not state.final:
                return state.key
        raise ValueError(f"la définition « {self.key} » n'a pas d'état initial (étape 1)")


class WorkflowError(Exception):
    """A definition file is invalid; names the file and the faulty entry, in French."""

    def __init__(self, file: str, entry: str, message: str) -> None:
        super().__init__(f"{file}: {entry}: {message}")
        self.file = file
        self.entry = entry
        self.message = message


class UnknownAction(Exception):
    def __init__(self, action: str) -> None:
        super().__init__(f"action « {action} » inconnue")
        self.action = action


class ActionImpossible(Exception):
    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"l'action « {action} » n'est pas possible depuis l'état « {state} »")
        self.action = action
        self.state = state


# --- Loading and checking -----------------------------------------------------------------

_SECTIONS = ("states", "actions", "document_types", "attestations")


def _entry_name(data: Mapping[str, Any], section: str, index: int) -> str:
    items = data.get(section)
    item = items[index] if isinstance(items, list) and index < len(items) else None
    key = item.get("key") if isinstance(item, dict) else None
    return f"{section}[{index}] ({key})" if isinstance(key, str) else f"{section}[{index}]"


def _french(error: ErrorDetails) -> str:
    """Pydantic speaks English; the people who edit the YAML read French."""
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", " ou ")
        if error["loc"] and error["loc"][-1] == "kind":
            return f"type de critère « {value} » inconnu ; types possibles : {expected}"
        return f"valeur « {value} » non admise ; valeurs possibles : {expected}"
    messages = {
        "missing": "paramètre obligatoire manquant",
        "extra_forbidden": "paramètre inconnu",
        "string_type": "texte attendu",
        "string_too_short": "texte vide",
        "too_short": "liste vide",
        "string_pattern_mismatch": "clé invalide (minuscules, chiffres et « _ » ou « - »)",
        "int_type": "nombre entier attendu",
        "int_parsing": "nombre entier attendu",
        "int_from_float": "nombre entier attendu",
        "bool_type": "oui/non (true/false) attendu",
        "bool_parsing": "oui/non (true/false) attendu",
        "list_type": "liste attendue",
        "dict_type": "dictionnaire attendu",
        "model_type": "dictionnaire attendu",
        "model_attributes_type": "dictionnaire attendu",
        "greater_than_equal": f"doit être supérieur ou égal à {ctx.get('ge')}",
    }
    return messages.get(kind, f"valeur invalide ({error['msg']})")


def _from_validation_error(exc: ValidationError, data: Mapping[str, Any], source: str) -> Exception:
    # Report the first error only: later ones are often consequences of it.
    error = exc.errors()[0]
    loc = error["loc"]
    if len(loc) >= 2 and loc[0] in _SECTIONS and isinstance(loc[1], int):
        entry, rest = _entry_name(data, str(loc[0]), loc[1]), loc[2:]
    elif loc:
        entry, rest = str(loc[0]), loc[1:]
    else:
        entry, rest = "définition", ()
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in rest)
    message = _french(error)
    if where:
        message = f"{message} ({where.lstrip('.')})"
    return WorkflowError(source, entry, message)


def _check_unique(definition: WorkflowDefinition, source: str) -> None:
    sections: dict[str, Sequence[StateDef | ActionDef | DocumentTypeDef | AttestationDef]] = {
        "states": definition.states,
        "document_types": definition.document_types,
        "attestations": definition.attestations,
        "actions": definition.actions,
    }
    for section, items in sections.items():
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.key in seen:
                raise WorkflowError(
                    source, f"{section}[{index}] ({item.key})", f"clé « {item.key} » déjà employée"
                )
            seen.add(item.key)


def _check_steps(definition: WorkflowDefinition, source: str) -> None:
    by_step: dict[int, str] = {}
    for index, state in enumerate(definition.states):
        entry = f"states[{index}] ({state.key})"
        if state.final:
            if state.step is not None or state.target_months is not None:
                raise WorkflowError(source, entry, "un état final n'a ni étape ni durée cible")
            continue
        if state.step is None:
            raise WorkflowError(source, entry, "un état non final doit avoir une étape (step)")
        if state.target_months is None:
            raise WorkflowError(
                source, entry, "un état non final doit avoir une durée cible (target_months)"
            )
        if state.step in by_step:
            other = by_step[state.step]
            if state.step == 1:
                message = f"l'étape 1 est déjà celle de « {other} » : un seul état initial"
            else:
                message = f"l'étape {state.step} est déjà celle de « {other} »"
            raise WorkflowError(source, entry, message)
        by_step[state.step] = state.key
    if 1 not in by_step:
        raise WorkflowError(source, "states", "aucun état n'a l'étape 1 (état initial)")
    for step in range(1, len(by_step) + 1):
        if step not in by_step:
            raise WorkflowError(
                source,
                "states",
                f"étape {step} manquante : les étapes doivent se suivre de 1 à {len(by_step)}",
            )


def _check_actions(definition: WorkflowDefinition, source: str) -> None:
    state_keys = {state.key for state in definition.states}
    for index, action in enumerate(definition.actions):
        entry = f"actions[{index}] ({action.key})"
        for state_key in action.sources:
            if state_key not in state_keys:
                raise WorkflowError(source, entry, f"état de départ « {state_key} » inexistant")
        if action.target not in state_keys:
            raise WorkflowError(source, entry, f"état d'arrivée « {action.target} » inexistant")
        for position, criterion in enumerate(action.criteria):
            where = f"(criteria[{position}])"
            if criterion.kind == "document" and not definition.document_type(criterion.type or ""):
                raise WorkflowError(
                    source,
                    entry,
                    f"type de document « {criterion.type} » non déclaré dans document_types "
                    f"{where}",
                )
            if criterion.kind == "attestation" and not definition.attestation(criterion.code or ""):
                raise WorkflowError(
                    source,
                    entry,
                    f"attestation « {criterion.code} » non déclarée dans attestations {where}",
                )
        for state_key in action.sources:
            if definition.is_final(state_key):
                raise WorkflowError(
                    source, entry, f"l'état « {state_key} » est final : aucune action n'en part"
                )


def _check_documents(definition: WorkflowDefinition, source: str) -> None:
    """Each step's expected documents are declared types, listed once, and final states expect
    none."""
    for index, state in enumerate(definition.states):
        entry = f"states[{index}] ({state.key})"
        if state.final and state.documents:
            raise WorkflowError(source, entry, "un état final n'attend aucune pièce (documents)")
        seen: set[str] = set()
        for position, expected in enumerate(state.documents):
            where = f"(documents[{position}])"
            if definition.document_type(expected.type) is None:
                raise WorkflowError(
                    source,
                    entry,
                    f"type de document « {expected.type} » non déclaré dans document_types {where}",
                )
            if expected.type in seen:
                raise WorkflowError(
                    source, entry, f"pièce « {expected.type} » attendue deux fois {where}"
                )
            seen.add(expected.type)


def _check_roles(definition: WorkflowDefinition, source: str) -> None:
    """The parts read from criteria must be unambiguous (see StateRoles)."""
    for index, action in enumerate(definition.actions):
        entry = f"actions[{index}] ({action.key})"
        kinds = [c.kind for c in action.criteria]
        if kinds.count("bureau_decision") > 1:
            raise WorkflowError(source, entry, "une seule décision du Bureau par action")
        if "expertise_report" in kinds and len(action.sources) != 1:
            raise WorkflowError(
                source, entry, "le rapport d'expertise se transmet depuis un seul état"
            )
    reporting = [
        a.key for a in definition.actions if any(c.kind == "expertise_report" for c in a.criteria)
    ]
    if len(reporting) > 1:
        raise WorkflowError(
            source,
            "actions",
            f"une seule action transmet le rapport d'expertise ({', '.join(reporting)})",
        )
    bureau_states = _sources_of(definition.actions, "bureau_decision")
    if len(bureau_states) > 1:
        raise WorkflowError(
            source,
            "actions",
            "les décisions du Bureau partent toutes du même état "
            f"(ici : {', '.join(bureau_states)})",
        )
    seen: dict[str, str] = {}
    for key, outcome in definition.roles.decision_outcomes.items():
        if outcome in seen:
            raise WorkflowError(
                source,
                "actions",
                f"la décision « {outcome} » est appliquée par deux actions "
                f"({seen[outcome]}, {key})",
            )
        seen[outcome] = key


def _check_graph(definition: WorkflowDefinition, source: str) -> None:
    for index, state in enumerate(definition.states):
        if not state.final and not definition.actions_from(state.key):
            raise WorkflowError(
                source,
                f"states[{index}] ({state.key})",
                "aucune action ne permet de quitter cet état non final",
            )
    initial = definition.initial_state
    reached, frontier = {initial}, [initial]
    while frontier:
        for action in definition.actions_from(frontier.pop()):
            if action.target not in reached:
                reached.add(action.target)
                frontier.append(action.target)
    for index, state in enumerate(definition.states):
        if state.key not in reached:
            raise WorkflowError(
                source,
                f"states[{index}] ({state.key})",
                f"état inaccessible depuis l'état initial « {initial} »",
            )


def _check_migration(definition: WorkflowDefinition, source: str) -> None:
    """The mapping names an older version and leads to states of this one that are not final
    (a migration never closes a project); its sources are checked against that version by
    `check_migrations`, once every version is known."""
    migration = definition.migration
    if migration is None:
        return
    if migration.from_version >= definition.version:
        raise WorkflowError(
            source,
            "migration",
            f"la version de départ ({migration.from_version}) doit précéder celle-ci "
            f"({definition.version})",
        )
    for old, new in migration.states.items():
        if new not in definition._states:
            raise WorkflowError(
                source, f"migration.states.{old}", f"état d'arrivée « {new} » inexistant"
            )
        if definition.is_final(new):
            raise WorkflowError(
                source,
                f"migration.states.{old}",
                f"l'état « {new} » est final : une migration ne clôt aucun projet",
            )


def check_migrations(definitions: Iterable[WorkflowDefinition], *, source: str = "") -> None:
    """Each mapping's states are states of the version it starts from, when that version is
    known (a database that never loaded it has no project on it); every non-final state of that
    version must lead to a state of the new one."""
    known = {(d.key, d.version): d for d in definitions}
    for definition in known.values():
        migration = definition.migration
        older = known.get((definition.key, migration.from_version)) if migration else None
        if migration is None or older is None:
            continue
        where = source or f"{definition.key}.yaml (version {definition.version})"
        for old in migration.states:
            if old not in older._states:
                raise WorkflowError(
                    where,
                    f"migration.states.{old}",
                    f"la version {older.version} n'a pas d'état « {old} »",
                )
        for state in older.states:
            target = migration.target_of(state.key)
            if not state.final and target not in definition._states:
                raise WorkflowError(
                    where,
                    "migration.states",
                    f"l'état « {state.key} » de la version {older.version} n'existe plus : "
                    "indiquez où vont ses projets",
                )


def parse_definition(data: Mapping[str, Any], *, source: str) -> WorkflowDefinition:
    """Validate raw (YAML) data; every problem becomes a WorkflowError naming `source`."""
    try:
        definition = WorkflowDefinition.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(exc, data, source) from None
    _check_unique(definition, source)
    _check_steps(definition, source)
    _check_actions(definition, source)
    _check_documents(definition, source)
    _check_roles(definition, source)
    _check_graph(definition, source)
    _check_migration(definition, source)
    return definition


def load_file(path: Path) -> WorkflowDefinition:
    source = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        raise WorkflowError(source, "fichier", f"lecture impossible ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise WorkflowError(source, "fichier", "le fichier n'est pas encodé en UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        entry = f"ligne {mark.line + 1}, colonne {mark.column + 1}" if mark else "fichier"
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkflowError(source, entry, f"syntaxe YAML invalide ({problem})") from None
    if not isinstance(data, dict):
        raise WorkflowError(source, "fichier", "le fichier doit décrire un dictionnaire YAML")
    return parse_definition(data, source=source)


def load_directory(directory: Path) -> list[WorkflowDefinition]:
    """Load every *.yaml / *.yml file; a (key, version) pair may appear in one file only."""
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    definitions: list[WorkflowDefinition] = []
    origin: dict[tuple[str, int], Path] = {}
    for path in paths:
        definition = load_file(path)
        ident = (definition.key, definition.version)
        if ident in origin:
            raise WorkflowError(
                str(path),
                "key",
                f"« {definition.key} » version {definition.version} "
                f"est déjà définie dans {origin[ident]}",
            )
        origin[ident] = path
        definitions.append(definition)
    check_migrations(definitions)
    return definitions


# --- Engine -------------------------------------------------------------------------------


class _Subject:
    """Throwaway carrier for one trigger: never registered, so the Machine keeps no reference."""

    def __init__(self, state: str) -> None:
        self.state = state


class Engine:
    """Holds validated definitions (several versions of one key may coexist) and one
    transitions.Machine per (key, version), built once in __init__.

    `archived`: versions only the database still holds (their file is gone or changed version):
    the projects that follow them keep working, but no new project starts on a key that has no
    file any more.
    """

    def __init__(
        self,
        definitions: Iterable[WorkflowDefinition],
        *,
        archived: Iterable[WorkflowDefinition] = (),
        stored: Callable[[], Iterable[WorkflowDefinition]] | None = None,
    ) -> None:
        self._definitions: dict[tuple[str, int], WorkflowDefinition] = {}
        self._machines: dict[tuple[str, int], Machine] = {}
        # Where versions recorded since start-up are read (the database): another process may
        # have loaded a new version and migrated projects to it while this one runs.
        self._stored = stored
        # Versions learnt that way serve the projects moved to them; new projects keep the
        # versions this process started with until it restarts on the new files.
        self._learnt: set[tuple[str, int]] = set()
        definitions = list(definitions)
        self._offered = sorted({d.key for d in definitions})
        for definition in [*definitions, *archived]:
            ident = (definition.key, definition.version)
            if ident in self._definitions:
                name = f"« {definition.key} » version {definition.version}"
                raise ValueError(f"définition {name} fournie deux fois")
            self._hold(definition)

    def _hold(self, definition: WorkflowDefinition) -> None:
        ident = (definition.key, definition.version)
        self._machines[ident] = Machine(
            model=None,
            states=[state.key for state in definition.states],
            transitions=[
                {"trigger": a.key, "source": list(a.sources), "dest": a.target}
                for a in definition.actions
            ],
            initial=definition.initial_state,
            # No hidden to_<state> triggers: only the actions of the definition may move.
            auto_transitions=False,
            send_event=True,
        )
        # The machine first: a reader finding the definition finds its machine too.
        self._definitions[ident] = definition

    def _held(self, key: str, version: int) -> WorkflowDefinition:
        """The definition of (key, version), learnt from the store when recorded since start-up."""
        held = self._definitions.get((key, version))
        if held is None and self._stored is not None:
            for definition in self._stored():
                if (definition.key, definition.version) not in self._definitions:
                    self._learnt.add((definition.key, definition.version))
                    self._hold(definition)
            held = self._definitions.get((key, version))
        if held is None:
            raise KeyError((key, version))
        return held

    def definition(self, key: str, version: int | None = None) -> WorkflowDefinition:
        if version is not None:
            return self._held(key, version)
        versions = [v for (k, v) in self._definitions if k == key and (k, v) not in self._learnt]
        if not versions:
            raise KeyError(key)
        return self._definitions[(key, max(versions))]

    def latest(self) -> list[WorkflowDefinition]:
        """The latest version of each definition that has a file: what new projects follow."""
        return [self.definition(key) for key in self._offered]

    def all(self) -> list[WorkflowDefinition]:
        """Every definition held, archived versions included, by key and version."""
        return [d for _, d in sorted(self._definitions.items())]

    def for_kind(self, project_kind: str) -> WorkflowDefinition:
        """Latest definition for this kind of project (the first key in order if several)."""
        for definition in self.latest():
            if definition.project_kind == project_kind:
                return definition
        raise KeyError(project_kind)

    def state_keys(self) -> set[str]:
        """Every state of every loaded version: what a project may be in."""
        return {s.key for d in self._definitions.values() for s in d.states}

    def bureau_states(self) -> list[tuple[str, int, str]]:
        """(key, version, state) of every definition's Bureau state: what Bureau members see."""
        return [
            (key, version, definition.roles.bureau_state)
            for (key, version), definition in sorted(self._definitions.items())
            if definition.roles.bureau_state is not None
        ]

    def expertise_grid(self, key: str, version: int) -> ExpertiseGrid:
        """The report grid of (key, version); a version without one (written before grids
        existed) uses the grid of the latest version of the same key that has one."""
        own = self._held(key, version).expertise_grid
        if own is not None:
            return own
        for (k, _version), definition in sorted(self._definitions.items(), reverse=True):
            if k == key and definition.expertise_grid is not None:
                return definition.expertise_grid
        raise KeyError(f"{key}: aucune grille d'expertise")

    def fire(self, key: str, version: int, state: str, action: str) -> str:
        """Return the state reached by `action` from `state`; criteria are checked elsewhere."""
        self._held(key, version)
        machine = self._machines[(key, version)]
        event = machine.events.get(action)
        if event is None:
            raise UnknownAction(action)
        if state not in machine.states:
            raise ActionImpossible(action, state)
        subject = _Subject(state)
        try:
            moved = event.trigger(subject)
        except MachineError:
            raise ActionImpossible(action, state) from None
        if not moved:
            raise ActionImpossible(action, state)
        return subject.state


def _mermaid_text(text: str) -> str:
    # ";" ends a Mermaid statement and "#" starts an entity code; newlines break the line.
    return " ".join(text.replace("#", "#35;").replace(";", "#59;").split())


def mermaid(definition: WorkflowDefinition) -> str:
    """A Mermaid ``stateDiagram-v2`` of the definition, labelled in French."""
    lines = ["stateDiagram-v2"]
    lines += [f"    {s.key}: {_mermaid_text(s.label)}" for s in definition.states]
    lines.append(f"    [*] --> {definition.initial_state}")
    for action in definition.actions:
        label = _mermaid_text(action.label)
        lines += [f"    {source} --> {action.target}: {label}" for source in action.sources]
    lines += [f"    {s.key} --> [*]" for s in definition.states if s.final]
    return "\n".join(lines) + "\n"
