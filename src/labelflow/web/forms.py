"""HTML forms: what the browser posts, turned into the API's input models, and refusals
turned into messages shown beside the fields.

Every form field is a plain string with a default, so that a missing or empty value never
becomes a bare validation page: the schema models of `labelflow.schemas` judge the values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from labelflow import accounts, projects
from labelflow.errors import INVALID_VALUES, DomainError
from labelflow.schemas import (
    AssignmentEndIn,
    AttestationCreate,
    BoardMemberCreate,
    ConsultantIn,
    DeadlineMove,
    DecisionCreate,
    DeclarationsIn,
    MeetingAttendance,
    MeetingCancel,
    MeetingCreate,
    MeetingMove,
    MemberAdd,
    MessageIn,
    MilestoneCreate,
    MilestoneUpdate,
    PasswordChange,
    PreferencesIn,
    ProjectCreate,
    ProjectUpdate,
    RecusalCreate,
    ReviewIn,
    StakeholderCreate,
    TokenCreate,
    TransitionIn,
    UserCreate,
    UserUpdate,
    WebhookCreate,
)
from labelflow.web.errors import french_fields
from labelflow.web.etag import version_of

# Fields whose value is one entry per line in a <textarea>.
LINE_FIELDS = {"communes", "qpv"}


class FormRefused(Exception):
    """Every problem of a form, found before the service is called: values that cannot even be
    turned into the input model (a commune line), those the model refuses, and what the
    service's own checks refuse among the values the model accepted."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(INVALID_VALUES)
        self.problems = problems


M = TypeVar("M", bound=BaseModel)
Checks = Callable[[dict[str, Any]], list[dict[str, str]]]


def _accepted(model: type[BaseModel], data: dict[str, Any], refused: set[str]) -> dict[str, Any]:
    """The fields of `data` the model accepts by themselves, as it would turn them."""
    accepted: dict[str, Any] = {}
    for name, value in data.items():
        info = model.model_fields.get(name)
        if info is None or name in refused:
            continue
        # The field's type with its constraints (lengths, patterns) as the model declares them.
        field_type: Any = Annotated[info.annotation, info]
        try:
            accepted[name] = TypeAdapter(field_type).validate_python(value)
        except ValidationError:
            continue
    return accepted


def validated(
    model: type[M],
    data: dict[str, Any],
    *,
    problems: list[dict[str, str]] | None = None,
    checks: Checks | None = None,
) -> M:
    """`model` from `data`, or FormRefused with every problem at once: `problems` found while
    reading the form, the model's, and those of `checks` (the service's own checks) on the
    fields the model accepted. A field with its own problems gets no « obligatoire » too."""
    found = list(problems or [])
    early = {p["field"] for p in found}
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        found += [
            p
            for p, e in zip(french_fields(errors), errors, strict=True)
            if not (len(e["loc"]) == 1 and e["loc"][0] in early)
        ]
        if checks is not None:
            refused = {str(e["loc"][0]) for e in errors if e["loc"]} | early
            found += checks(_accepted(model, data, refused))
        raise FormRefused(_in_order(model, found)) from None
    if found:
        if checks is not None:
            found += checks({k: getattr(result, k) for k in data if k not in early})
        raise FormRefused(_in_order(model, found))
    return result


def _in_order(model: type[BaseModel], problems: list[dict[str, str]]) -> list[dict[str, str]]:
    """The problems in the order of the model's fields, as the form shows them."""
    order = {name: index for index, name in enumerate(model.model_fields)}
    return sorted(problems, key=lambda p: order.get(p["field"].partition(".")[0], len(order)))


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_communes(text: str, problems: list[dict[str, str]]) -> list[dict[str, str]]:
    """'59512 Roubaix' per line → [{"insee": "59512", "name": "Roubaix"}]; a line without a
    name adds its problem to `problems`."""
    communes = []
    for number, line in enumerate(lines(text), start=1):
        insee, _, name = line.partition(" ")
        if not name.strip():
            problems.append(
                {
                    "field": "communes",
                    "message": f"Ligne {number} : indiquez le code INSEE puis le nom de la "
                    "commune, par exemple « 59512 Roubaix ».",
                }
            )
            # A stand-in the model accepts, so that the lines after keep their numbers.
            communes.append({"insee": "00000", "name": "?"})
            continue
        communes.append({"insee": insee, "name": name.strip()})
    return communes


def communes_text(communes: list[dict[str, str]]) -> str:
    return "\n".join(f"{c['insee']} {c['name']}" for c in communes)


def _blank_to_none(value: str) -> str | None:
    return value.strip() or None


def _filled(values: dict[str, Any]) -> dict[str, Any]:
    """Leave out what the user left empty, so that the model says « obligatoire »."""
    return {
        k: v
        for k, v in values.items()
        if v is not None and v != [] and not (isinstance(v, str) and not v.strip())
    }


class PageForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = ""
    # "1" once the user confirmed an irreversible action (`web.confirm`).
    confirm: str = ""

    def if_match(self) -> int | None:
        return version_of(self.version)

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude={"version", "confirm"})


class ProjectForm(PageForm):
    name: str = ""
    kind: str = ""
    communes: str = ""
    region: str = ""
    departement: str = ""
    qpv: str = ""
    initiator: str = ""

    def to_model(self) -> ProjectCreate:
        problems: list[dict[str, str]] = []
        data = _filled(
            {
                "name": self.name,
                "kind": self.kind,
                "communes": parse_communes(self.communes, problems),
                "region": self.region,
                "initiator": self.initiator,
                "departement": _blank_to_none(self.departement),
                "qpv": lines(self.qpv),
            }
        )
        return validated(ProjectCreate, data, problems=problems)


class ProjectEditForm(PageForm):
    name: str = ""
    communes: str = ""
    region: str = ""
    departement: str = ""
    qpv: str = ""
    association_name: str = ""
    rna_number: str = ""
    association_created_on: str = ""
    charge_mission_recruited_on: str = ""

    def to_model(self) -> ProjectUpdate:
        problems: list[dict[str, str]] = []
        communes = parse_communes(self.communes, problems)
        return validated(
            ProjectUpdate,
            {
                "name": _blank_to_none(self.name),
                "communes": communes or None,
                "region": _blank_to_none(self.region),
                "departement": _blank_to_none(self.departement),
                "qpv": lines(self.qpv),
                "association_name": _blank_to_none(self.association_name),
                "rna_number": _blank_to_none(self.rna_number),
                "association_created_on": _blank_to_none(self.association_created_on),
                "charge_mission_recruited_on": _blank_to_none(self.charge_mission_recruited_on),
            },
            problems=problems,
            checks=projects.update_problems,
        )


class StaffOwnerForm(PageForm):
    staff_owner_id: str = ""

    def to_model(self) -> ProjectUpdate:
        return ProjectUpdate.model_validate({"staff_owner_id": _blank_to_none(self.staff_owner_id)})


class TransitionForm(PageForm):
    action: str = ""
    comment: str = ""

    def to_model(self) -> TransitionIn:
        return TransitionIn.model_validate(
            _filled({"action": self.action, "comment": _blank_to_none(self.comment)})
        )


class CommentForm(PageForm):
    comment: str = ""


class StakeholderForm(PageForm):
    name: str = ""
    college: str = ""
    engaged_on: str = ""
    contact: str = ""

    def to_model(self) -> StakeholderCreate:
        return StakeholderCreate.model_validate(
            _filled(
                {
                    "name": self.name,
                    "college": self.college,
                    "engaged_on": _blank_to_none(self.engaged_on),
                    "contact": _blank_to_none(self.contact),
                }
            )
        )


class BoardMemberForm(PageForm):
    name: str = ""
    college: str = ""
    is_president: str = ""

    def to_model(self) -> BoardMemberCreate:
        return BoardMemberCreate.model_validate(
            _filled(
                {
                    "name": self.name,
                    "college": self.college,
                    "is_president": bool(self.is_president),
                }
            )
        )


class AttestationForm(PageForm):
    code: str = ""
    date: str = ""
    comment: str = ""

    def to_model(self) -> AttestationCreate:
        return AttestationCreate.model_validate(
            _filled({"code": self.code, "date": _blank_to_none(self.date), "comment": self.comment})
        )


class ConsultantForm(PageForm):
    user_id: str = ""

    def to_model(self) -> ConsultantIn:
        return ConsultantIn.model_validate(_filled({"user_id": self.user_id.strip()}))


class DeclarationForm(PageForm):
    """The independence declaration: per stakeholder `link-<id>` (« oui » or « non ») and
    `details-<id>`; the names carry the stakeholder, so the fields are not declared here."""

    model_config = ConfigDict(extra="allow")

    def to_model(self) -> DeclarationsIn:
        extra = self.model_extra or {}
        declarations = []
        for key, answer in extra.items():
            if not key.startswith("link-") or not isinstance(answer, str) or not answer.strip():
                continue
            number = key.removeprefix("link-")
            if not number.isdigit() or len(number) > 9 or answer not in ("oui", "non"):
                raise FormRefused(
                    [
                        {
                            "field": key,
                            "message": "Réponse illisible : rechargez la page et recommencez.",
                        }
                    ]
                )
            details = extra.get(f"details-{number}")
            declarations.append(
                {
                    "stakeholder_id": int(number),
                    "has_link": answer == "oui",
                    "details": _blank_to_none(details) if isinstance(details, str) else None,
                }
            )
        return DeclarationsIn.model_validate({"declarations": declarations})


class AssignmentEndForm(PageForm):
    reason: str = ""

    def to_model(self) -> AssignmentEndIn:
        return AssignmentEndIn.model_validate(_filled({"reason": self.reason}))


class MemberForm(PageForm):
    user_id: str = ""

    def to_model(self) -> MemberAdd:
        return MemberAdd.model_validate(_filled({"user_id": self.user_id.strip()}))


class TokenForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = ""

    def to_model(self) -> TokenCreate:
        return TokenCreate.model_validate(_filled({"name": self.name}))

    def values(self) -> dict[str, Any]:
        return self.model_dump()


class WebhookForm(BaseModel):
    """« Webhooks »: the address and the events chosen (checkboxes)."""

    model_config = ConfigDict(extra="ignore")

    url: str = ""
    events: list[str] = []

    def to_model(self) -> WebhookCreate:
        return WebhookCreate.model_validate({"url": self.url, "events": self.events})

    def values(self) -> dict[str, Any]:
        return self.model_dump()


def _checked(value: str) -> bool:
    return value.strip().lower() in {"on", "true", "1", "oui"}


class UserForm(BaseModel):
    """Creation (every field) and change (no e-mail) of an account by an administrator."""

    model_config = ConfigDict(extra="ignore")

    email: str = ""
    name: str = ""
    role: str = ""
    is_admin: str = ""
    password: str = ""
    # One région per line (a regional staff account); empty: national.
    regions: str = ""

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude={"password"})  # a password is never shown again

    def region_list(self) -> list[str]:
        return [line.strip() for line in self.regions.splitlines() if line.strip()]

    def to_create(self) -> UserCreate:
        data = _filled(
            {
                "email": self.email.strip(),
                "name": self.name,
                "role": self.role,
                "is_admin": _checked(self.is_admin),
                "password": self.password or None,
                "regions": self.region_list(),
            }
        )
        return validated(UserCreate, data, checks=_user_checks)

    def to_update(self) -> UserUpdate:
        changes: dict[str, Any] = {
            "name": self.name,
            "role": self.role,
            "is_admin": _checked(self.is_admin),
            "regions": self.region_list(),
        }
        if self.password:
            changes["password"] = self.password
        return validated(UserUpdate, changes, checks=_user_checks)


def _user_checks(accepted: dict[str, Any]) -> list[dict[str, str]]:
    return accounts.user_problems(
        role=accepted.get("role"),
        is_admin=accepted.get("is_admin"),
        password=accepted.get("password"),
        regions=accepted.get("regions"),
    )


class DecisionForm(PageForm):
    meeting_id: str = ""
    outcome: str = ""
    motivation: str = ""
    # One select per Bureau member, each option "<user id>:<vote>"; blank: absent.
    votes: list[str] = []

    def _data(self) -> dict[str, Any]:
        votes = []
        for value in self.votes:
            user_id, _, vote = value.partition(":")
            if user_id.strip() and vote.strip():
                votes.append({"user_id": user_id.strip(), "vote": vote.strip()})
        return _filled(
            {
                "meeting_id": _blank_to_none(self.meeting_id),
                "outcome": self.outcome,
                "motivation": _blank_to_none(self.motivation),
            }
        ) | {"votes": votes}

    def to_model(self) -> DecisionCreate:
        return DecisionCreate.model_validate(self._data())

    def accepted(self) -> dict[str, Any]:
        """`meeting_id`, `outcome`, `motivation` and `votes` as the model accepts each by
        itself (None: left out or refused), for the deliberation's own checks when the model
        refuses the form (`decisions.deliberate`)."""
        ok = _accepted(DecisionCreate, self._data(), set())
        votes = ok.get("votes")
        return {
            "meeting_id": ok.get("meeting_id"),
            "outcome": ok.get("outcome"),
            "motivation": ok.get("motivation"),
            "votes": None if votes is None else [(v.user_id, v.vote) for v in votes],
        }

    def vote_of(self, user_id: int) -> str:
        """The vote chosen for `user_id` (to show a refused form again)."""
        prefix = f"{user_id}:"
        return next((v[len(prefix) :] for v in self.votes if v.startswith(prefix)), "")


class MeetingForm(PageForm):
    """A meeting recorded once held (`mode` « tenue »: attendees, chair) or convened ahead
    (`mode` « convoquer »: a future date and the agenda's projects)."""

    mode: str = "tenue"
    held_on: str = ""
    attendee_ids: list[str] = []
    chair_id: str = ""
    project_ids: list[str] = []
    notes: str = ""

    @property
    def convening(self) -> bool:
        return self.mode == "convoquer"

    def to_model(self) -> MeetingCreate:
        listed = {"attendee_ids": [a for a in self.attendee_ids if a.strip()]}
        if self.convening:
            listed = {"project_ids": [p for p in self.project_ids if p.strip()]}
        return MeetingCreate.model_validate(
            _filled(
                {
                    "held_on": _blank_to_none(self.held_on),
                    "chair_id": _blank_to_none(self.chair_id),
                    "notes": _blank_to_none(self.notes),
                }
            )
            | listed
        )


class MeetingMoveForm(PageForm):
    held_on: str = ""
    reason: str = ""

    def to_model(self) -> MeetingMove:
        return MeetingMove.model_validate(
            _filled(
                {"held_on": _blank_to_none(self.held_on), "reason": _blank_to_none(self.reason)}
            )
        )


class MeetingCancelForm(PageForm):
    reason: str = ""

    def to_model(self) -> MeetingCancel:
        return MeetingCancel.model_validate(_filled({"reason": self.reason}))


class MeetingAttendanceForm(PageForm):
    attendee_ids: list[str] = []
    chair_id: str = ""
    notes: str = ""

    def to_model(self) -> MeetingAttendance:
        return MeetingAttendance.model_validate(
            _filled(
                {"chair_id": _blank_to_none(self.chair_id), "notes": _blank_to_none(self.notes)}
            )
            | {"attendee_ids": [a for a in self.attendee_ids if a.strip()]}
        )


class RecusalForm(PageForm):
    user_id: str = ""
    reason: str = ""
    return_to: str = ""

    def to_model(self) -> RecusalCreate:
        return RecusalCreate.model_validate(
            _filled({"user_id": _blank_to_none(self.user_id), "reason": self.reason})
        )


class DeadlineForm(PageForm):
    due_on: str = ""
    reason: str = ""

    def to_model(self) -> DeadlineMove:
        return DeadlineMove.model_validate(
            _filled({"due_on": _blank_to_none(self.due_on), "reason": self.reason})
        )


class MilestoneForm(PageForm):
    title: str = ""
    due_on: str = ""
    user_id: str = ""

    def to_model(self) -> MilestoneCreate:
        return MilestoneCreate.model_validate(
            _filled(
                {
                    "title": self.title,
                    "due_on": _blank_to_none(self.due_on),
                    "user_id": _blank_to_none(self.user_id),
                }
            )
        )


class MilestoneMoveForm(PageForm):
    """« Déplacer » a milestone: its new date (required here: moving is what the form does)."""

    due_on: str = ""

    def to_model(self) -> MilestoneUpdate:
        due_on = _blank_to_none(self.due_on)
        if due_on is None:
            raise FormRefused([{"field": "due_on", "message": "Ce champ est obligatoire."}])
        return MilestoneUpdate.model_validate({"due_on": due_on})


class MilestoneDoneForm(PageForm):
    """« Marquer comme tenu » (done=1) or « Rouvrir » (done=0)."""

    done: str = ""

    def to_model(self) -> MilestoneUpdate:
        return MilestoneUpdate.model_validate({"done": self.done.strip() == "1"})


class PasswordForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    current_password: str = ""
    new_password: str = ""
    new_password_again: str = ""

    def to_model(self) -> PasswordChange:
        problems = []
        if self.new_password and self.new_password_again != self.new_password:
            problems.append(
                {
                    "field": "new_password_again",
                    "message": "Les deux saisies du nouveau mot de passe ne sont pas identiques.",
                }
            )
        return validated(
            PasswordChange,
            _filled({"current_password": self.current_password, "new_password": self.new_password}),
            problems=problems,
        )

    def values(self) -> dict[str, Any]:
        # A password is never written back into the page.
        return {}


class ReviewForm(PageForm):
    status: str = ""
    comment: str = ""

    def to_model(self) -> ReviewIn:
        return ReviewIn.model_validate(
            _filled({"status": self.status, "comment": _blank_to_none(self.comment)})
        )


class DocumentForm(PageForm):
    type: str = ""


class MessageForm(PageForm):
    body: str = ""
    audience: str = ""
    awaiting_reply: str = ""
    document_ids: list[str] = []

    def to_model(self) -> MessageIn:
        return validated(
            MessageIn,
            {
                "body": self.body,
                "audience": self.audience or None,
                "awaiting_reply": bool(self.awaiting_reply),
                "document_ids": self.document_ids,
            },
        )


# The fields' labels, as the summary of a refused form names them (links to the fields).
FIELD_LABELS = {
    "name": "Nom",
    "kind": "Type de Régie",
    "communes": "Communes",
    "region": "Région",
    "departement": "Département",
    "qpv": "Quartiers prioritaires (QPV)",
    "initiator": "À l'initiative du projet",
    "association_name": "Association",
    "rna_number": "Numéro RNA",
    "association_created_on": "Date de création de l'association",
    "charge_mission_recruited_on": "Date de recrutement du chargé de mission",
    "staff_owner_id": "Chargé·e de suivi",
    "comment": "Commentaire",
    "college": "Collège",
    "engaged_on": "Date d'engagement",
    "contact": "Contact",
    "is_president": "Président·e",
    "code": "Attestation",
    "date": "Date",
    "user_id": "Compte",
    "reason": "Raison",
    "email": "Adresse e-mail",
    "role": "Rôle",
    "is_admin": "Administrateur·rice",
    "password": "Mot de passe",
    "meeting_id": "Réunion",
    "outcome": "Décision",
    "motivation": "Motivation",
    "votes": "Votes",
    "held_on": "Date de la réunion",
    "attendee_ids": "Présents",
    "chair_id": "Présidence de séance",
    "notes": "Notes",
    "due_on": "Nouvelle échéance",
    "title": "Intitulé",
    "current_password": "Mot de passe actuel",
    "new_password": "Nouveau mot de passe",
    "new_password_again": "Nouveau mot de passe (confirmation)",
    "status": "Avis",
    "type": "Type de pièce",
    "file": "Fichier",
    "body": "Message",
    "audience": "Destinataires",
    "document_ids": "Pièces jointes",
}


# --- refusals ----------------------------------------------------------------------------------


@dataclass
class FormState:
    """What a refused form shows again: the typed values and the messages beside the fields."""

    values: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)
    unmet: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    # The page shows the general message at its top (the project page): not again in the form.
    general_above: bool = False

    @property
    def refused(self) -> bool:
        return bool(self.message)

    def value(self, name: str, default: Any = "") -> Any:
        return self.values.get(name, default) if self.refused else default

    def errors(self, name: str) -> list[str]:
        return self.fields.get(name, [])

    @property
    def general(self) -> str:
        """The message shown above the form when no field carries it (a field's own message
        is beside it, once)."""
        return "" if self.fields else self.message

    def summary(self) -> list[tuple[str, str, bool]]:
        """(field name, text, linked) for every field with a problem, in the order found: the
        field's label, linked to it; for a problem about no input of the form (the whole
        declaration, say), its message itself, which would be shown nowhere else."""
        return [
            (name, FIELD_LABELS[name], True)
            if name in FIELD_LABELS
            else (name, " ".join(messages), False)
            for name, messages in self.fields.items()
        ]


class Forms(dict[str, FormState]):
    """`forms["stakeholder"]` is the refused form of that name, or an empty state."""

    def __missing__(self, key: str) -> FormState:
        return FormState()


def _field_messages(items: list[dict[str, str]]) -> dict[str, list[str]]:
    """'communes.1.insee' → the `communes` field, message prefixed by its line number."""
    result: dict[str, list[str]] = {}
    for item in items:
        name, _, rest = item["field"].partition(".")
        message = item["message"]
        index = rest.split(".")[0]
        if name in LINE_FIELDS and index.isdigit():
            message = f"Ligne {int(index) + 1} : {message}"
        result.setdefault(name, []).append(message)
    return result


def refusal(exc: Exception, values: dict[str, Any]) -> FormState:
    """A refused form: its values kept, the French reasons sorted by field."""
    if isinstance(exc, ValidationError):
        fields = _field_messages(french_fields(exc.errors()))
        return FormState(
            values,
            "Certaines valeurs sont manquantes ou invalides : corrigez les champs signalés.",
            fields,
            status=422,
        )
    if isinstance(exc, FormRefused):
        return FormState(
            values,
            "Certaines valeurs sont manquantes ou invalides : corrigez les champs signalés.",
            _field_messages(exc.problems),
            status=422,
        )
    assert isinstance(exc, DomainError)
    fields = _field_messages(exc.extra.get("fields", []))
    # The problems on no field (a quorum) listed beside the fields' (without any, the message
    # names them, once).
    beside = list(exc.extra.get("problems", [])) if fields else []
    return FormState(
        values,
        exc.message,
        fields,
        list(exc.extra.get("unmet", [])) + beside,
        status=exc.status,
    )


REFUSALS = (ValidationError, FormRefused, DomainError)


class PreferencesForm(BaseModel):
    """« Mon compte »: one choice per kind that may be changed (the essential ones are fixed)."""

    model_config = ConfigDict(extra="ignore")

    transition: str = ""
    echeance: str = ""
    rappel: str = ""
    document_depose: str = ""
    document_refuse: str = ""
    message: str = ""
    affectation: str = ""
    declaration: str = ""
    rapport: str = ""
    seance: str = ""
    decision: str = ""
    webhook: str = ""

    def to_model(self) -> PreferencesIn:
        chosen = {k: v for k, v in self.model_dump().items() if v}
        return PreferencesIn.model_validate({"notifications": chosen})
