"""The demo's stories: one scenario per project, dated in days before the load."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from labelflow.demo.places import (
    AMIENS,
    EXTRA_PLACES,
    GRENOBLE,
    HAUTE_CORREZE,
    MARSEILLE,
    MULHOUSE,
    NANTES,
    PAYS_DE_BRAY,
    RENNES,
    ROUBAIX,
    SAINT_DENIS,
    SUD_CREUSE,
    TOULOUSE,
    Place,
)

# (state, the action that leaves it) along the main path of both definitions.
MAIN_PATH = [
    ("groupe_projet", "lancer_faisabilite"),
    ("faisabilite", "soumettre_validation"),
    ("validation", "valider_projet"),
    ("prefiguration", "demander_expertise"),
    ("expertise", "transmettre_bureau"),
    ("decision_bureau", "attribuer_label"),
]
MAIN_PATH_ACTION = dict(MAIN_PATH)
# The Bureau's decisions, as transition actions, and the outcome each one records.
DECISIONS = {
    "attribuer_label": "attribution",
    "refuser_label": "refus",
    "ajourner": "ajournement",
}


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
    """The dozen demo projects: every step, every final state, one ajourné, one suspended, a
    Régie de Quartier and a Régie de Territoire labelled (the open data lists them)."""
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
                 1040, _route([880, 640, 570, 190, 110], ("attribuer_label", 30))),
    ]
    # fmt: on


def extra_scenario(index: int, rng: random.Random) -> Scenario:
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
