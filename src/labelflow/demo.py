"""Demo data: a dozen realistic projects built through the services, with dated histories.

Every demo project is written by the same service functions as a real one (creation,
stakeholders, documents, attestations, transitions, decisions, suspensions), each call made
with the clock frozen at a moment of the past, so that events, deadlines and dates look like
three years of real follow-up. `generate_bulk` writes thousands of similar projects directly
with bulk inserts, for the benchmark only.
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment
from sqlalchemy import Engine as SAEngine
from sqlmodel import Session, SQLModel, col, func, select

from labelflow import (
    accounts,
    assignments,
    bureau,
    dates,
    deadlines,
    documents,
    pdf,
    projects,
    records,
    reports,
)
from labelflow.actors import ROLE_LABELS, Actor
from labelflow.db import transaction
from labelflow.documents import DocumentStore
from labelflow.models import (
    Attestation,
    BoardMember,
    Deadline,
    Document,
    Event,
    Project,
    ProjectMember,
    Stakeholder,
    User,
)
from labelflow.schemas import (
    AssessmentIn,
    AttestationCreate,
    BoardMemberCreate,
    CommuneIn,
    DeadlineMove,
    DeclarationIn,
    ProjectCreate,
    ProjectUpdate,
    ReportDraft,
    StakeholderCreate,
    UserCreate,
)
from labelflow.settings import PROJECT_ROOT, Settings
from labelflow.workflow import Engine

# Demo mode only: every demo account signs in with this password (printed by `serve --demo`,
# written in the README). Outside demo mode no account exists until `labelflow users create`.
DEMO_PASSWORD = "demo-labelflow-2026"
DEMO_DOMAIN = "demo.labelflow.fr"

# The fixed demo accounts (name, role, admin); porteurs are created one per project.
STAFF = [("Camille Roussel", True), ("Julien Marchand", False)]
CONSULTANTS = ["Hélène Garnier", "Bernard Lemoine"]
BUREAU = [
    "Françoise Vasseur",
    "Alain Mercier",
    "Nadia Bensalem",
    "Gilles Tessier",
    "Odile Lacroix",
]
# fmt: off
FIRST_NAMES = [
    "Fatou", "Marie", "Karima", "Jean-Pierre", "Mohamed", "Sylvie", "Rachid", "Nathalie",
    "Ibrahima", "Monique", "Yasmina", "Patrick", "Aïcha", "Thierry", "Chantal", "Samir",
    "Brigitte", "Moussa", "Isabelle", "Hakim", "Josiane", "Bruno", "Leïla", "Gérard"
]
LAST_NAMES = [
    "Diallo", "Martin", "Benaïssa", "Dupuis", "Haddad", "Lambert", "Cissé", "Moreau", "Traoré",
    "Girard", "Mebarki", "Fontaine", "Ndiaye", "Roux", "Bouzid", "Lefebvre", "Camara", "Perrin",
    "Kaci", "Chevalier", "Mendy", "Faure", "Belkacem", "Renaud"
]
# fmt: on

MAIN_PATH = [
    ("groupe_projet", "lancer_faisabilite"),
    ("faisabilite", "soumettre_validation"),
    ("validation", "valider_projet"),
    ("prefiguration", "demander_expertise"),
    ("expertise", "transmettre_bureau"),
    ("decision_bureau", "attribuer_label"),
]


@dataclass(frozen=True)
class Place:
    communes: list[tuple[str, str]]  # (INSEE code, name)
    region: str
    departement: str
    qpv: list[str]
    habitants: str  # the habitants' collective
    collectivite: str
    third: str  # bailleur social (quartier) or local economic partner (territoire)
    regie_visited: str


@dataclass
class Scenario:
    """One demo project: where it is, and when (in days ago) each action was taken."""

    name: str
    kind: str
    initiator: str
    place: Place
    created: int
    route: list[tuple[str, int]]
    # Share of what the current step needs that is already recorded (0 to 1).
    progress: float = 0.0
    suspended: int | None = None  # suspended that many days ago, still suspended
    pause: tuple[int, int] | None = None  # suspended then resumed (days ago)
    moved_deadline: tuple[int, int] | None = None  # (days ago, days added) on the open step
    comments: dict[str, str] = field(default_factory=dict)
    # A first consultant declares a link with the collectivité: that assignment is refused.
    conflict: bool = False


def _quartier(
    insee: str,
    commune: str,
    region: str,
    departement: str,
    qpv: list[str],
    collectif: str,
    bailleur: str,
    visited: str,
) -> Place:
    return Place(
        [(insee, commune)],
        region,
        departement,
        qpv,
        collectif,
        f"Ville de {commune}",
        bailleur,
        visited,
    )


# The places are data tables: kept one place per block rather than one value per line.
# fmt: off
ROUBAIX = _quartier("59512", "Roubaix", "Hauts-de-France", "Nord", ["Trois Ponts", "Épeule"],
                    "Conseil citoyen des Trois Ponts", "Vilogia",
                    "la Régie de quartier de Tourcoing")
GRENOBLE = _quartier("38185", "Grenoble", "Auvergne-Rhône-Alpes", "Isère",
                     ["Villeneuve", "Village Olympique"], "Union de quartier Villeneuve",
                     "Actis", "une Régie de quartier de l'agglomération lyonnaise")
SAINT_DENIS = _quartier("93066", "Saint-Denis", "Île-de-France", "Seine-Saint-Denis",
                        ["Franc-Moisin", "Bel-Air"], "Amicale des locataires du Franc-Moisin",
                        "Plaine Commune Habitat", "une Régie de quartier du Val-de-Marne")
MARSEILLE = _quartier("13055", "Marseille", "Provence-Alpes-Côte d'Azur", "Bouches-du-Rhône",
                      ["Frais-Vallon", "Le Mail"], "Collectif des habitants de Frais-Vallon",
                      "13 Habitat", "une Régie de quartier d'Avignon")
AMIENS = _quartier("80021", "Amiens", "Hauts-de-France", "Somme", ["Amiens Nord", "Étouvie"],
                   "Conseil citoyen d'Amiens Nord", "Amiens Habitat",
                   "une Régie de quartier du Nord")
RENNES = _quartier("35238", "Rennes", "Bretagne", "Ille-et-Vilaine", ["Maurepas"],
                   "Association des habitants de Maurepas", "Archipel Habitat",
                   "une Régie de quartier de Nantes")
TOULOUSE = _quartier("31555", "Toulouse", "Occitanie", "Haute-Garonne", ["Empalot"],
                     "Comité de quartier d'Empalot", "Toulouse Métropole Habitat",
                     "une Régie de quartier de Montpellier")
MULHOUSE = _quartier("68224", "Mulhouse", "Grand Est", "Haut-Rhin", ["Coteaux"],
                     "Conseil citoyen des Coteaux", "m2A Habitat",
                     "une Régie de quartier de Strasbourg")
NANTES = _quartier("44109", "Nantes", "Pays de la Loire", "Loire-Atlantique", ["Bellevue"],
                   "Collectif des habitants de Bellevue", "Nantes Métropole Habitat",
                   "une Régie de quartier de Rennes")
PAYS_DE_BRAY = Place(
    [("76312", "Gournay-en-Bray"), ("76276", "Forges-les-Eaux"),
     ("76260", "Ferrières-en-Bray"), ("76462", "Neufchâtel-en-Bray")],
    "Normandie", "Seine-Maritime", [], "Collectif d'habitants du Pays de Bray",
    "Communauté de communes des Quatre Rivières", "Mission locale du Pays de Bray",
    "une Régie de Territoire de l'Oise",
)
HAUTE_CORREZE = Place(
    [("19275", "Ussel"), ("19136", "Meymac"), ("19073", "Égletons")],
    "Nouvelle-Aquitaine", "Corrèze", [], "Association des habitants de Haute-Corrèze",
    "Communauté de communes Haute-Corrèze", "Maison de l'emploi de Haute-Corrèze",
    "une Régie de Territoire du Limousin",
)
SUD_CREUSE = Place(
    [("23008", "Aubusson"), ("23079", "Felletin")],
    "Nouvelle-Aquitaine", "Creuse", [], "Collectif citoyen Aubusson-Felletin",
    "Communauté de communes Creuse Grand Sud", "Chantier d'insertion du Sud-Creuse",
    "une Régie de Territoire de la Creuse",
)
EXTRA_PLACES = [
    _quartier("63113", "Clermont-Ferrand", "Auvergne-Rhône-Alpes", "Puy-de-Dôme",
              ["Saint-Jacques", "Croix-de-Neyrat"], "Conseil citoyen de Saint-Jacques",
              "Assemblia", "une Régie de quartier de Saint-Étienne"),
    _quartier("67482", "Strasbourg", "Grand Est", "Bas-Rhin", ["Neuhof"],
              "Conseil citoyen du Neuhof", "Ophéa", "une Régie de quartier de Mulhouse"),
    _quartier("25056", "Besançon", "Bourgogne-Franche-Comté", "Doubs", ["Planoise"],
              "Association des habitants de Planoise", "Grand Besançon Habitat",
              "une Régie de quartier de Dijon"),
    _quartier("34172", "Montpellier", "Occitanie", "Hérault", ["Petit Bard – Pergola"],
              "Collectif des habitants du Petit Bard", "ACM Habitat",
              "une Régie de quartier de Nîmes"),
]
# fmt: on

THROUGH_BUREAU = [
    "lancer_faisabilite",
    "soumettre_validation",
    "valider_projet",
    "demander_expertise",
    "transmettre_bureau",
]


def _route(days: list[int], *last: tuple[str, int]) -> list[tuple[str, int]]:
    """The main path's actions fired `days` ago (one value per action), then `last`."""
    return [*zip(THROUGH_BUREAU, days, strict=False), *last]


def scenarios() -> list[Scenario]:
    """The dozen demo projects: every step, every final state, one ajourné, one suspended."""
    # fmt: off
    return [
        Scenario("Régie de quartier des Trois Ponts", "quartier", "habitants", ROUBAIX, 1060,
                 _route([900, 650, 580, 200, 120], ("attribuer_label", 45))),
        Scenario("Régie de quartier Villeneuve – Village Olympique", "quartier", "collectivite",
                 GRENOBLE, 1000, _route([840, 610, 540, 130, 35])),
        Scenario(
            "Régie de quartier Franc-Moisin – Bel-Air", "quartier", "bailleur", SAINT_DENIS,
            1070, _route([930, 700, 610, 260, 170], ("refuser_label", 110)),
            comments={"refus": "Le modèle économique repose presque entièrement sur des "
                      "marchés du bailleur, sans activité à prix de marché, et les habitants "
                      "ne sont que deux au conseil d'administration : le Bureau ne peut pas "
                      "attribuer le label en l'état."},
        ),
        Scenario(
            "Régie de quartier Frais-Vallon – Le Mail", "quartier", "habitants", MARSEILLE, 1050,
            _route([900, 670, 595, 280, 200], ("ajourner", 120)),
            comments={"ajournement": "Le Bureau salue la mobilisation des habitants et demande, "
                      "avant un nouvel examen, un plan de trésorerie sur trois ans et l'entrée "
                      "d'un second bailleur au conseil d'administration."},
        ),
        Scenario("Régie de quartier d'Amiens Nord", "quartier", "collectivite", AMIENS, 900,
                 _route([760, 520, 450, 115]), conflict=True),
        Scenario("Régie de quartier de Maurepas", "quartier", "habitants", RENNES, 800,
                 _route([640, 420, 350]), progress=0.6, suspended=40),
        Scenario("Régie de quartier d'Empalot", "quartier", "bailleur", TOULOUSE, 520,
                 _route([370, 70]), progress=0.4),
        Scenario("Régie de quartier des Coteaux", "quartier", "collectivite", MULHOUSE, 480,
                 _route([300]), progress=0.5, moved_deadline=(70, 90)),
        Scenario("Régie de quartier de Bellevue", "quartier", "habitants", NANTES, 60,
                 _route([]), progress=0.5),
        Scenario(
            "Régie de Territoire du Pays de Bray", "territoire", "collectivite", PAYS_DE_BRAY,
            700, _route([520], ("abandonner", 150)),
            comments={"abandon": "Les communes n'ont pas trouvé d'accord sur le financement du "
                      "poste de chargé·e de mission ; le groupe projet préfère arrêter pour le "
                      "moment et reprendre contact après le prochain budget intercommunal."},
        ),
        Scenario("Régie de Territoire de Haute-Corrèze", "territoire", "collectivite",
                 HAUTE_CORREZE, 1000, _route([830, 590, 440]), progress=0.7, pause=(560, 470)),
        Scenario("Régie de Territoire Aubusson-Felletin", "territoire", "habitants", SUD_CREUSE,
                 230, _route([]), progress=0.5),
    ]
    # fmt: on


def _extra_scenario(index: int, rng: random.Random) -> Scenario:
    """Projects beyond the dozen (`--projects N`): further cities, random progress."""
    place = EXTRA_PLACES[index % len(EXTRA_PLACES)]
    round_ = index // len(EXTRA_PLACES)
    name = f"Régie de quartier {place.qpv[0]}" + (f" ({round_ + 1})" if round_ else "")
    steps = rng.randint(0, 5)
    created = rng.randint(60 + 150 * steps, min(1070, 120 + 200 * steps))
    # Actions at least 30 days apart, the last one at least 10 days ago.
    days = sorted(rng.sample(range(created - 30, 9, -30), steps), reverse=True)
    route = [(action, day) for (_, action), day in zip(MAIN_PATH, days, strict=False)]
    return Scenario(
        name,
        "quartier",
        rng.choice(["habitants", "collectivite", "bailleur"]),
        place,
        created,
        route,
        progress=rng.random(),
    )


# --- small PDF documents ------------------------------------------------------------------


def _pdf_text(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("cp1252", errors="replace")


def make_pdf(title: str, lines: Sequence[str] = ()) -> bytes:
    """A valid one-page PDF showing `title` and a few lines (WinAnsi text, Helvetica)."""
    content = io.BytesIO()
    content.write(b"BT /F1 16 Tf 60 780 Td (" + _pdf_text(title) + b") Tj ET\n")
    for i, line in enumerate(lines):
        content.write(b"BT /F1 11 Tf 60 %d Td (" % (740 - 18 * i) + _pdf_text(line) + b") Tj ET\n")
    stream = content.getvalue()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in folded.lower()).split())


# --- building one project through the services ---------------------------------------------


class _Builder:
    """Writes one scenario; every call runs with the clock frozen at its historical moment."""

    def __init__(
        self,
        session: Session,
        *,
        engine: Engine,
        store: DocumentStore,
        letters_env: Environment,
        rng: random.Random,
        scenario: Scenario,
        origin: datetime,
        people: DemoPeople,
        used_names: set[str],
    ) -> None:
        self.session = session
        self.engine = engine
        self.store = store
        self.letters = bureau.Letters(env=letters_env, store=store)
        self.rng = rng
        self.s = scenario
        self.origin = origin
        self.staff = rng.choice(people.staff)
        self.porteur_name = self._person()
        while self.porteur_name in used_names:  # one porteur per project: no namesakes
            self.porteur_name = self._person()
        used_names.add(self.porteur_name)
        self.porteur = Actor(name=self.porteur_name, role="porteur")  # its account: in create()
        self.people = people
        self.consultant = rng.choice(people.consultants)
        self.project: Project | None = None
        self.done: set[str] = set()
        self._day = scenario.created  # days ago of the step being written
        self._last = origin - timedelta(days=scenario.created + 1)

    # time

    def moment(self, days_ago: float) -> datetime:
        """A working-hours moment `days_ago` days before the load (Paris daytime, in UTC).

        Moments only move forward, so that a project's history reads in the order it was
        written even when two records fall on the same day.
        """
        day = (self.origin - timedelta(days=days_ago)).date()
        minutes = self.rng.randint(7 * 60, 16 * 60)
        moment = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=UTC)
        if moment <= self._last:
            moment = self._last + timedelta(minutes=self.rng.randint(5, 90))
        self._last = moment
        return moment

    def spread(self, count: int, start: int, end: int) -> list[int]:
        """`count` sorted days-ago values strictly between `start` and `end` (start > end)."""
        if count == 0:
            return []
        if start - end < 2:
            raise ValueError(f"{self.s.name}: pas assez de jours entre {start} et {end}")
        return sorted((self.rng.randint(end + 1, start - 1) for _ in range(count)), reverse=True)

    def at(self, days_ago: float, call: Callable[[], Any]) -> Any:
        with dates.frozen(self.moment(days_ago)):
            return call()

    # records

    def _person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    @property
    def p(self) -> Project:
        assert self.project is not None
        return self.project

    def create(self) -> None:
        place = self.s.place
        data = ProjectCreate(
            name=self.s.name,
            kind=self.s.kind,
            communes=[CommuneIn(insee=code, name=name) for code, name in place.communes],
            region=place.region,
            departement=place.departement,
            qpv=place.qpv,
            initiator=self.s.initiator,
        )
        self.project = self.at(
            self.s.created,
            lambda: projects.create_project(
                self.session, engine=self.engine, data=data, actor=self.staff
            ),
        )

        def link_porteur() -> None:
            # The porteur who brought the project gets an account linked to it at once.
            user = _demo_user(self.session, name=self.porteur_name, role="porteur", unique=True)
            accounts.add_member(
                self.session, project=self.p, user_id=user.id or 0, actor=self.staff
            )
            self.porteur = accounts.actor_of(user)

        self.at(self.s.created, link_porteur)

    def stakeholder(self, college: str, name: str) -> None:
        def call() -> None:
            data = StakeholderCreate(
                name=name, college=college, engaged_on=dates.today(), contact=self._person()
            )
            records.add_stakeholder(
                self.session,
                engine=self.engine,
                project=self.p,
                data=data,
                actor=self.staff,
                if_match=None,
            )

        self.at(self._day, call)

    def document(
        self,
        doc_type: str,
        title: str,
        *,
        by: Actor | None = None,
        review: str | None = "accepted",
        review_comment: str | None = None,
    ) -> None:
        actor = by or self.porteur
        filename = f"{_slug(title)}.pdf"
        body = make_pdf(title, [self.s.name, ", ".join(n for _, n in self.s.place.communes)])

        def upload() -> Document:
            return documents.add_document(
                self.session,
                engine=self.engine,
                store=self.store,
                project=self.p,
                doc_type=doc_type,
                filename=filename,
                declared_media_type="application/pdf",
                source=io.BytesIO(body),
                max_bytes=10 * 1024 * 1024,
                allowed_media_types=["application/pdf"],
                actor=actor,
                if_match=None,
            )

        document = self.at(self._day, upload)
        if review is not None:
            self.at(
                self._day,
                lambda: documents.review_document(
                    self.session,
                    engine=self.engine,
                    project=self.p,
                    document=document,
                    status=review,
                    comment=review_comment,
                    actor=self.staff,
                    if_match=None,
                ),
            )

    def attestation(self, code: str, comment: str) -> None:
        def call() -> None:
            data = AttestationCreate(code=code, date=dates.today(), comment=comment)
            records.add_attestation(
                self.session,
                engine=self.engine,
                project=self.p,
                data=data,
                actor=self.staff,
                if_match=None,
            )

        self.at(self._day, call)

    def fire(self, action: str, days_ago: int, comment: str | None = None) -> None:
        self.at(
            days_ago,
            lambda: projects.transition(
                self.session,
                engine=self.engine,
                project=self.p,
                action=action,
                comment=comment,
                actor=self.staff,
                if_match=None,
                letters=self.letters,
            ),
        )

    # what each action needs, as a list of steps to run in order

    def needs(self, action: str) -> list[Callable[[], None]]:
        place, kind = self.s.place, self.s.kind
        third = "bailleur" if kind == "quartier" else "partenaire"
        territory = place.qpv[0] if place.qpv else place.communes[0][1]
        if action == "lancer_faisabilite":
            return [
                lambda: self.stakeholder("habitants", place.habitants),
                lambda: self.stakeholder("collectivite", place.collectivite),
                lambda: self.attestation(
                    "portage_collectivite",
                    f"{place.collectivite} inscrit le projet dans ses priorités et s'engage à "
                    "financer l'étude de faisabilité.",
                ),
                lambda: self.stakeholder(third, place.third),
                lambda: self.document("note_cadrage", f"Note de cadrage – {territory}"),
                lambda: self.attestation(
                    "convention_amo",
                    "Convention d'accompagnement signée entre la collectivité et le Mouvement.",
                ),
            ]
        if action == "soumettre_validation":
            steps: list[Callable[[], None]] = [
                lambda: self.attestation(
                    "visite_regie",
                    f"Le groupe projet a passé une journée dans {place.regie_visited} : "
                    "chantiers, conseil d'administration et échanges avec les salariés.",
                ),
            ]
            if self.rng.random() < 0.5:
                steps.append(
                    lambda: self.document(
                        "etude_faisabilite",
                        "Étude de faisabilité – version provisoire",
                        review="rejected",
                        review_comment="Le volet modèle économique manque : chiffrer les marchés "
                        "envisagés et la part d'activités à prix de marché.",
                    )
                )
            steps.append(lambda: self.document("etude_faisabilite", "Étude de faisabilité"))
            return steps
        if action == "valider_projet":
            engagement = "engagement_bailleur" if kind == "quartier" else "engagement_partenaires"
            return [
                lambda: self.document(
                    "deliberation_collectivite",
                    f"Délibération – {place.collectivite}",
                    by=self.staff,
                ),
                lambda: self.document(
                    "validation_habitants", "Compte rendu de la réunion publique des habitants"
                ),
                lambda: self.document(engagement, f"Lettre d'engagement – {place.third}"),
            ]
        if action == "demander_expertise":
            return [
                self.create_association,
                lambda: self.document("statuts", "Statuts de l'association de préfiguration"),
                lambda: self.document("recepisse_prefecture", "Récépissé de déclaration"),
                self.elect_board,
                self.recruit,
                self.assign_consultant,
            ]
        if action == "transmettre_bureau":
            # The assigned consultant writes the structured report, attaches an annex, submits.
            return [
                self.draft_report,
                lambda: self.document(
                    "annexe_expertise", "Comptes rendus des entretiens", by=self.consultant
                ),
                self.submit_report,
            ]
        return []

    def draft_report(self) -> None:
        grid = reports.grid_of(self.engine, self.p)
        notes = {
            "satisfaisant": "Constaté lors de la visite et confirmé par les entretiens.",
            "a_consolider": "Engagé, mais à consolider dans les mois qui viennent.",
        }
        assessments = {}
        for criterion in grid.criteria():
            value = "a_consolider" if self.rng.random() < 0.2 else "satisfaisant"
            assessments[criterion.key] = AssessmentIn(assessment=value, comment=notes[value])
        reserves = any(a.assessment == "a_consolider" for a in assessments.values())

        def call() -> None:
            visited = dates.today() - timedelta(days=6)
            data = ReportDraft(
                assessments=assessments,
                visit_dates=[visited, visited + timedelta(days=1)],
                people_met="La présidente et le trésorier de l'association, le ou la chargé·e "
                "de mission, trois salarié·es en insertion, l'élu·e référent·e.",
                recommendation="favorable_avec_reserves" if reserves else "favorable",
                recommendations_text="Poursuivre l'ouverture du conseil d'administration aux "
                "habitants et diversifier les marchés.",
            )
            reports.save_draft(
                self.session,
                engine=self.engine,
                project=self.p,
                actor=self.consultant,
                data=data,
                if_match=None,
            )

        self.at(self._day, call)

    def submit_report(self) -> None:
        self.at(
            self._day,
            lambda: reports.submit(
                self.session,
                engine=self.engine,
                project=self.p,
                actor=self.consultant,
                if_match=None,
            ),
        )

    def create_association(self) -> None:
        insee = self.s.place.communes[0][0]
        short = self.s.name.replace("Régie de quartier", "Régie").replace(
            "Régie de Territoire", "Régie"
        )

        def call() -> None:
            data = ProjectUpdate(
                association_name=f"Association de préfiguration {short}",
                rna_number=f"W{insee[:2]}{self.rng.randint(0, 9)}{self.rng.randint(0, 999999):06d}",
                association_created_on=dates.today() - timedelta(days=12),
            )
            projects.update_project(
                self.session,
                project=self.p,
                data=data,
                actor=self.staff,
                if_match=None,
                engine=self.engine,
            )

        self.at(self._day, call)

    def recruit(self) -> None:
        def call() -> None:
            data = ProjectUpdate(charge_mission_recruited_on=dates.today() - timedelta(days=3))
            projects.update_project(
                self.session,
                project=self.p,
                data=data,
                actor=self.staff,
                if_match=None,
                engine=self.engine,
            )

        self.at(self._day, call)

    def elect_board(self) -> None:
        third = "bailleur" if self.s.kind == "quartier" else "partenaire"
        colleges = ["habitants"] * self.rng.randint(4, 5) + ["collectivite", third]
        if self.s.kind == "territoire":
            colleges.append("collectivite")

        def call() -> None:
            for i, college in enumerate(colleges):
                data = BoardMemberCreate(name=self._person(), college=college, is_president=i == 0)
                records.add_board_member(
                    self.session,
                    engine=self.engine,
                    project=self.p,
                    data=data,
                    actor=self.staff,
                    if_match=None,
                )

        self.at(self._day, call)

    def assign_consultant(self) -> None:
        """Staff assign the consultant, who declares no link with any stakeholder; in the
        scenario with a conflict, another consultant first declares a link and is refused."""
        if self.s.conflict:
            other = next(c for c in self.people.consultants if c != self.consultant)
            self._assign_and_declare(other, linked=self.s.place.collectivite)
        self._assign_and_declare(self.consultant, linked=None)

    def _assign_and_declare(self, consultant: Actor, *, linked: str | None) -> None:
        assignment = self.at(
            self._day,
            lambda: assignments.assign(
                self.session,
                engine=self.engine,
                project=self.p,
                consultant_id=consultant.user_id or 0,
                actor=self.staff,
                if_match=None,
            ),
        )

        def declare() -> None:
            stakeholders = records.list_stakeholders(self.session, project=self.p)
            assignments.declare(
                self.session,
                assignment=assignment,
                actor=consultant,
                declarations=[
                    DeclarationIn(
                        stakeholder_id=s.id or 0,
                        has_link=s.name == linked,
                        details=(
                            "J'ai conduit en 2024 une mission d'évaluation de la politique de "
                            "la ville pour cette collectivité."
                            if s.name == linked
                            else None
                        ),
                    )
                    for s in stakeholders
                ],
            )

        self.at(self._day, declare)

    def decide(self, outcome: str, fired: int, entered: int, motivation: str | None) -> None:
        """The Bureau meets (all but one member present), a member withdraws when the label is
        refused, and those present vote as the outcome needs."""
        meeting_day = max(fired + 3, (entered + fired) // 2)
        members = self.people.bureau
        present = members[:-1]
        recused = members[1] if outcome == "refus" and len(members) > 2 else None
        ballots = {
            "attribution": ["pour", "pour", "abstention", "pour"],
            "refus": ["contre", "pour", "contre", "contre"],
            "ajournement": ["abstention", "pour", "contre", "abstention"],
        }[outcome]

        def call() -> None:
            if recused is not None:
                bureau.declare_recusal(
                    self.session,
                    project=self.p,
                    user_id=recused.user_id,
                    reason="Administratrice du bailleur social partenaire du projet.",
                    actor=recused,
                )
            meeting = bureau.create_meeting(
                self.session,
                held_on=dates.today(),
                attendee_ids=[m.user_id or 0 for m in present],
                chair_id=present[0].user_id,
                notes=None,
                actor=self.staff,
            )
            votes = [
                (m.user_id or 0, ballots[i % len(ballots)])
                for i, m in enumerate(present)
                if m is not recused
            ]
            bureau.record_decision(
                self.session,
                engine=self.engine,
                project=self.p,
                meeting_id=meeting.id or 0,
                outcome=outcome,
                motivation=motivation,
                votes=votes,
                actor=self.staff,
                settings=Settings.model_construct(),  # defaults: the usual quorum
                if_match=None,
            )

        self.at(meeting_day, call)

    # the whole story

    def run_steps(self, steps: list[Callable[[], None]], start: int, end: int) -> None:
        for day, step in zip(self.spread(len(steps), start, end), steps, strict=True):
            self._day = day
            step()

    def build(self) -> Project:
        self.create()
        entered = self.s.created
        state = self.p.state
        for action, fired in self.s.route:
            if self.s.pause and entered > self.s.pause[0] > fired:
                # Suspended during this step: the records come after the resumption.
                self.suspend_and_resume(*self.s.pause)
                entered = self.s.pause[1]
            if action in ("attribuer_label", "refuser_label", "ajourner"):
                outcome = {
                    "attribuer_label": "attribution",
                    "refuser_label": "refus",
                    "ajourner": "ajournement",
                }[action]
                motivation = self.s.comments.get(outcome)
                self.decide(outcome, fired, entered, motivation)
                self.fire(action, fired, motivation)
            elif action == "abandonner":
                self.run_steps(self.needs(MAIN_PATH_ACTION[state])[:2], entered, fired)
                self.fire(action, fired, self.s.comments["abandon"])
            else:
                needs = self.needs(action) if action not in self.done else []
                self.run_steps(needs, entered, fired)
                self.done.add(action)
                self.fire(action, fired)
            entered, state = fired, self.p.state
        if not projects.definition_of(self.engine, self.p).is_final(state):
            self.current_step(state, entered)
        return self.p

    def current_step(self, state: str, entered: int) -> None:
        last = 1
        if self.s.moved_deadline:
            last = self.s.moved_deadline[0] + 1
        if self.s.suspended:
            last = self.s.suspended + 1
        if state == "prefiguration" and "demander_expertise" in self.done:
            # Back from the Bureau (ajournement): answer its recommendations.
            steps: list[Callable[[], None]] = [
                lambda: self.document("autre", "Plan d'action après l'avis du Bureau"),
                lambda: self.document("autre", "Plan de trésorerie sur trois ans"),
            ]
        else:
            action = MAIN_PATH_ACTION[state]
            needs = self.needs(action)
            steps = needs[: int(len(needs) * self.s.progress)]
        self.run_steps(steps, entered, last)
        if self.s.moved_deadline:
            self.move_deadline(state, *self.s.moved_deadline)
        if self.s.suspended:
            self.at(
                self.s.suspended,
                lambda: projects.set_suspended(
                    self.session,
                    project=self.p,
                    suspend=True,
                    engine=self.engine,
                    actor=self.staff,
                    if_match=None,
                    comment="La chargée de mission a quitté l'association ; le projet reprendra "
                    "après son remplacement.",
                ),
            )

    def move_deadline(self, state: str, days_ago: int, extra_days: int) -> None:
        assert self.p.id is not None
        open_step = next(
            d
            for d in deadlines.list_for_project(self.session, project_id=self.p.id)
            if d.state == state and d.closed_on is None
        )
        assert open_step.id is not None
        deadline_id = open_step.id

        def call() -> None:
            data = DeadlineMove(
                due_on=open_step.due_on + timedelta(days=extra_days),
                reason="Le diagnostic du bailleur, indispensable à l'étude, a pris du retard.",
            )
            records.move_deadline(
                self.session,
                engine=self.engine,
                project=self.p,
                deadline_id=deadline_id,
                data=data,
                actor=self.staff,
                if_match=None,
            )

        self.at(days_ago, call)

    def suspend_and_resume(self, start: int, end: int) -> None:
        self.at(
            start,
            lambda: projects.set_suspended(
                self.session,
                project=self.p,
                suspend=True,
                engine=self.engine,
                actor=self.staff,
                if_match=None,
                comment="Période électorale : les nouveaux conseils municipaux doivent confirmer "
                "leur soutien.",
            ),
        )
        self.at(
            end,
            lambda: projects.set_suspended(
                self.session,
                project=self.p,
                suspend=False,
                engine=self.engine,
                actor=self.staff,
                if_match=None,
                comment="Soutien confirmé par les nouvelles équipes municipales.",
            ),
        )


MAIN_PATH_ACTION = dict(MAIN_PATH)


# --- demo accounts ---------------------------------------------------------------------------

DEMO_ACCOUNTS_AGE = 1100  # days: the fixed accounts predate every demo project


@dataclass(frozen=True)
class DemoPeople:
    """The fixed demo accounts, as the actors the builder records facts with."""

    staff: list[Actor]
    consultants: list[Actor]
    bureau: list[Actor]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    label: str
    email: str
    name: str
    project: str | None = None


def demo_email(name: str, number: int = 1) -> str:
    """`Hélène Garnier` → `helene.garnier@demo.labelflow.fr` (`…garnier2@…` for a second one)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    local = ".".join("".join(c if c.isalnum() or c == "-" else " " for c in folded).split())
    return f"{local}{number if number > 1 else ''}@{DEMO_DOMAIN}"


@functools.cache
def _demo_password_hash() -> str:
    # One Argon2id hash shared by every demo account: hashing is deliberately slow, and the
    # demo password is public anyway.
    return accounts.hash_password(DEMO_PASSWORD)


def _demo_user(
    session: Session, *, name: str, role: str, is_admin: bool = False, unique: bool = False
) -> User:
    """The demo account for `name`, created if missing; with `unique`, always a new one."""
    number = 1
    while (existing := accounts.user_by_email(session, demo_email(name, number))) is not None:
        if not unique:
            return existing
        number += 1
    data = UserCreate(
        email=demo_email(name, number),
        name=name,
        role=role,
        is_admin=is_admin,
    )
    user = accounts.create_user(session, data=data)
    user.password_hash = _demo_password_hash()
    session.add(user)
    session.flush()
    return user


def ensure_demo_accounts(db: SAEngine, *, since: datetime | None = None) -> DemoPeople:
    """The staff, consultant and Bureau demo accounts, created when missing (demo mode only)."""
    with dates.frozen(since or dates.now()), transaction(db) as session:
        staff = [
            _demo_user(session, name=name, role="staff", is_admin=admin) for name, admin in STAFF
        ]
        consultants = [_demo_user(session, name=name, role="consultant") for name in CONSULTANTS]
        bureau = [_demo_user(session, name=name, role="bureau") for name in BUREAU]
        return DemoPeople(
            staff=[accounts.actor_of(u) for u in staff],
            consultants=[accounts.actor_of(u) for u in consultants],
            bureau=[accounts.actor_of(u) for u in bureau],
        )


def demo_logins(db: SAEngine) -> list[DemoLogin]:
    """One active demo account per role, for `serve --demo` to print (empty outside the demo).

    The porteur shown is the one of the most recently created project still in progress, so
    that « Mon projet » has something missing to show.
    """
    domain = f"%@{DEMO_DOMAIN}"
    in_progress = [state for state, _ in MAIN_PATH]
    logins: list[DemoLogin] = []
    with transaction(db, write=False) as session:
        users = session.exec(
            select(User)
            .where(col(User.email).like(domain), col(User.active).is_(True))
            .order_by(col(User.is_admin).desc(), col(User.id))
        ).all()
        for role in ("staff", "consultant", "bureau"):
            user = next((u for u in users if u.role == role), None)
            if user is not None:
                label = ROLE_LABELS[role] + (" (admin)" if user.is_admin else "")
                logins.append(DemoLogin(role, label, user.email, user.name))
        porteur = session.exec(
            select(User, Project)
            .join(ProjectMember, col(ProjectMember.user_id) == User.id)
            .join(Project, col(Project.id) == ProjectMember.project_id)
            .where(
                col(User.email).like(domain),
                col(User.active).is_(True),
                col(Project.state).in_(in_progress),
                col(Project.suspended).is_(False),
            )
            .order_by(col(Project.created_at).desc(), col(Project.id).desc())
        ).first()
    if porteur is not None:
        user, project = porteur
        logins.insert(
            2, DemoLogin("porteur", ROLE_LABELS["porteur"], user.email, user.name, project.name)
        )
    return logins


def project_count(db: SAEngine) -> int:
    with transaction(db, write=False) as session:
        return int(session.exec(select(func.count()).select_from(Project)).one())


def load_demo(
    db: SAEngine,
    workflows: Engine,
    *,
    store: DocumentStore,
    count: int = 12,
    seed: int = 0,
    templates_dir: Path | None = None,
) -> list[int]:
    """Create `count` demo projects (the dozen scenarios first) and the demo accounts (one per
    role, one porteur per project, all with `DEMO_PASSWORD`); returns the projects' ids."""
    rng = random.Random(seed)
    origin = dates.now()
    # The decision letters' templates (the app's own environment when it runs).
    letters_env = pdf.make_environment(templates_dir or PROJECT_ROOT / "templates")
    people = ensure_demo_accounts(db, since=origin - timedelta(days=DEMO_ACCOUNTS_AGE))
    chosen = scenarios()[:count]
    chosen += [_extra_scenario(i, rng) for i in range(count - len(chosen))]
    ids = []
    used_names: set[str] = set()
    for scenario in chosen:
        with transaction(db) as session:
            builder = _Builder(
                session,
                engine=workflows,
                store=store,
                letters_env=letters_env,
                rng=rng,
                scenario=scenario,
                origin=origin,
                people=people,
                used_names=used_names,
            )
            project = builder.build()
            assert project.id is not None
            ids.append(project.id)
    return ids


# --- bulk generation for the benchmark -------------------------------------------------------


def _table(model: type[SQLModel]) -> sa.Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


@dataclass
class _Rows:
    stakeholders: list[dict[str, Any]] = field(default_factory=list)
    board: list[dict[str, Any]] = field(default_factory=list)
    attestations: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> Iterator[tuple[sa.Table, list[dict[str, Any]]]]:
        yield _table(Stakeholder), self.stakeholders
        yield _table(BoardMember), self.board
        yield _table(Attestation), self.attestations
        yield _table(Document), self.documents
        yield _table(Deadline), self.deadlines
        yield _table(Event), self.events


# fmt: off
BULK_DOC_TYPES = [
    "note_cadrage", "etude_faisabilite", "deliberation_collectivite", "validation_habitants",
    "statuts", "recepisse_prefecture", "autre"
]
# fmt: on


def _bulk_children(
    rng: random.Random,
    pid: int,
    row: dict[str, Any],
    *,
    events: int,
    docs: int,
    rows: _Rows,
    definition_steps: list[tuple[str, int]],
) -> None:
    created: datetime = row["created_at"]
    span = max((row["updated_at"] - created).total_seconds(), 3600.0)

    def when(fraction: float) -> datetime:
        return created + timedelta(seconds=span * fraction)

    staff = rng.choice(STAFF)[0]
    colleges = [
        "habitants",
        "collectivite",
        "bailleur" if row["kind"] == "quartier" else "partenaire",
    ]
    for i, college in enumerate(colleges + ["habitants"] * rng.randint(0, 2)):
        rows.stakeholders.append(
            {
                "project_id": pid,
                "name": f"Partie prenante {i + 1}",
                "college": college,
                "contact": None,
                "engaged_on": when(0.05).date(),
                "created_at": when(0.05),
            }
        )
    for i in range(rng.randint(0, 7)):
        rows.board.append(
            {
                "project_id": pid,
                "name": f"Membre {i + 1}",
                "college": "habitants" if i < 4 else "collectivite",
                "is_president": i == 0,
                "created_at": when(0.6),
            }
        )
    for code in ("portage_collectivite", "convention_amo", "visite_regie"):
        rows.attestations.append(
            {
                "project_id": pid,
                "code": code,
                "attested_on": when(0.1).date(),
                "comment": "Constaté en comité de suivi.",
                "recorded_by": staff,
                "recorded_at": when(0.1),
            }
        )
    for i in range(docs):
        at = when((i + 1) / (docs + 1))
        doc_type = BULK_DOC_TYPES[i % len(BULK_DOC_TYPES)]
        rows.documents.append(
            {
                "project_id": pid,
                "type": doc_type,
                "filename": f"{doc_type}-{i + 1}.pdf",
                "size": rng.randint(20_000, 2_000_000),
                "media_type": "application/pdf",
                "sha256": hashlib.sha256(f"{pid}-{i}".encode()).hexdigest(),
                "uploaded_by": staff,
                "uploaded_at": at,
                "review_status": rng.choice(["en_attente", "accepted"]),
                "review_comment": None,
                "reviewed_by": None,
                "reviewed_at": None,
                "superseded_by_id": None,
            }
        )
    created_day = dates.paris_date(created)
    rows.deadlines.append(
        {
            "project_id": pid,
            "kind": "label",
            "state": None,
            "due_on": dates.add_months(created_day, 36),
            "initial_due_on": dates.add_months(created_day, 36),
            "closed_on": None,
            "created_at": created,
        }
    )
    for index, (state, months) in enumerate(definition_steps):
        start = when(index / len(definition_steps)).date()
        due = dates.add_months(start, months)
        closed = None if state == row["state"] else when((index + 1) / len(definition_steps)).date()
        rows.deadlines.append(
            {
                "project_id": pid,
                "kind": "etape",
                "state": state,
                "due_on": due,
                "initial_due_on": due,
                "closed_on": closed,
                "created_at": created,
            }
        )
        if state == row["state"]:
            break
    kinds = [
        "partie_prenante",
        "attestation",
        "document",
        "revue",
        "modification",
        "membre_ca",
        "consultant",
    ]
    rows.events.append(
        {
            "project_id": pid,
            "at": created,
            "actor": staff,
            "kind": "creation",
            "action": None,
            "from_state": None,
            "to_state": "groupe_projet",
            "comment": None,
            "data": {"name": row["name"]},
        }
    )
    path = [s for s, _ in MAIN_PATH]
    reached = path.index(row["state"]) if row["state"] in path else len(path) - 1
    transitions = {round((i + 1) * (events - 1) / (reached + 1)): i for i in range(reached)}
    for i in range(1, events):
        at = when(i / events)
        if i in transitions:
            step = transitions[i]
            rows.events.append(
                {
                    "project_id": pid,
                    "at": at,
                    "actor": staff,
                    "kind": "transition",
                    "action": MAIN_PATH[step][1],
                    "from_state": path[step],
                    "to_state": path[step + 1],
                    "comment": None,
                    "data": {},
                }
            )
        else:
            kind = kinds[i % len(kinds)]
            rows.events.append(
                {
                    "project_id": pid,
                    "at": at,
                    "actor": staff,
                    "kind": kind,
                    "action": None,
                    "from_state": None,
                    "to_state": None,
                    "comment": None,
                    "data": {"op": "ajout", "id": i},
                }
            )


def generate_bulk(
    db: SAEngine,
    workflows: Engine,
    *,
    count: int,
    seed: int = 0,
    events: tuple[int, int] = (10, 40),
    docs: tuple[int, int] = (5, 15),
    batch: int = 500,
) -> list[int]:
    """Insert `count` demo-like projects with their histories directly (benchmark only).

    Rows are plausible (states along the main path, deadlines, stakeholders, board, documents
    whose files do not exist, 10-40 events) but skip the services, for speed.
    """
    rng = random.Random(seed)
    now = dates.now()
    places = [s.place for s in scenarios()] + EXTRA_PLACES
    ids: list[int] = []
    path = [s for s, _ in MAIN_PATH]
    for first in range(0, count, batch):
        size = min(batch, count - first)
        project_rows: list[dict[str, Any]] = []
        for n in range(first, first + size):
            place = rng.choice(places)
            kind = "quartier" if place.qpv else "territoire"
            definition = workflows.for_kind(kind)
            state = rng.choice(path)
            created = now - timedelta(days=rng.randint(30, 1080), minutes=rng.randint(0, 600))
            updated = created + (now - created) * rng.uniform(0.5, 0.99)
            communes = [{"insee": c, "name": name} for c, name in place.communes]
            name = f"Projet {n + 1} – {place.communes[0][1]}"
            project_rows.append(
                {
                    "name": name,
                    "kind": kind,
                    "communes": communes,
                    "region": place.region,
                    "departement": place.departement,
                    "qpv": place.qpv,
                    "initiator": rng.choice(["habitants", "collectivite", "bailleur"]),
                    "search_text": projects.fold(" ".join([name, *(c["name"] for c in communes)])),
                    "workflow_key": definition.key,
                    "workflow_version": definition.version,
                    "state": state,
                    "entered_state_at": updated,
                    "suspended": False,
                    "suspended_at": None,
                    "version": rng.randint(10, 60),
                    "created_at": created,
                    "updated_at": updated,
                    "association_name": None,
                    "rna_number": None,
                    "association_created_on": None,
                    "charge_mission_recruited_on": None,
                    "consultant_id": None,
                    "label_number": None,
                    "label_date": None,
                }
            )
        rows = _Rows()
        with transaction(db) as session:
            inserted = (
                session.execute(
                    sa.insert(_table(Project)).returning(
                        _table(Project).c.id, sort_by_parameter_order=True
                    ),
                    project_rows,
                )
                .scalars()
                .all()
            )
            for pid, row in zip(inserted, project_rows, strict=True):
                definition = workflows.for_kind(row["kind"])
                steps = [(s.key, s.target_months or 1) for s in definition.steps()]
                _bulk_children(
                    rng,
                    pid,
                    row,
                    events=rng.randint(*events),
                    docs=rng.randint(*docs),
                    rows=rows,
                    definition_steps=steps,
                )
            for table, values in rows.tables():
                if values:
                    session.execute(sa.insert(table), values)
        ids.extend(int(i) for i in inserted)
    return ids
