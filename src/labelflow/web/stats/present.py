"""The network's figures as shown: the API's shape, and for the page each chart (drawn as SVG by
`templates/_chart.html`, no script) with the table of its data and the list behind each number."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

from labelflow import stats
from labelflow.schemas import (
    CohortPublic,
    FunnelStepPublic,
    NetworkStatsPublic,
    RatesPublic,
    StepDurationPublic,
    YearFigurePublic,
)
from labelflow.workflow import Engine

KIND_NAMES = {"quartier": "Régies de Quartier", "territoire": "Régies de Territoire"}
# Fill colours of the series (presentation attributes: no style for the CSP to allow).
KIND_COLOURS = {"quartier": "#1f5f99", "territoire": "#2e7d4f"}
OUTCOME_SERIES = [
    ("labelled", "Labellisés", "#2e7d4f"),
    ("in_progress", "En cours", "#1f5f99"),
    ("refused", "Refusés", "#b3261e"),
    ("abandoned", "Abandonnés", "#6b6b6b"),
]


def network_public(figures: stats.NetworkFigures) -> NetworkStatsPublic:
    return NetworkStatsPublic(
        generated_at=figures.generated_at,
        by_year=[
            YearFigurePublic(
                year=y.year,
                kind=y.kind,
                labelled_total=y.labelled_total,
                labelled_in_year=y.labelled_in_year,
                in_progress=y.in_progress,
            )
            for y in figures.by_year
        ],
        cohorts=[
            CohortPublic(
                year=c.year,
                kind=c.kind,
                started=c.started,
                in_progress=c.in_progress,
                labelled=c.labelled,
                refused=c.refused,
                abandoned=c.abandoned,
            )
            for c in figures.cohorts
        ],
        funnel=[
            FunnelStepPublic(
                state=f.state, label=f.label, step=f.step, reached=f.reached, by_kind=f.by_kind
            )
            for f in figures.funnel
        ],
        steps=[
            StepDurationPublic(
                state=s.state,
                label=s.label,
                step=s.step,
                kind=s.kind,
                n=s.n,
                median_days=s.median_days,
                p10_days=s.p10_days,
                p90_days=s.p90_days,
                target_days=s.target_days,
            )
            for s in figures.steps
        ],
        rates=RatesPublic(
            abandon=figures.rates.abandon,
            refusal=figures.rates.refusal,
            closed=figures.rates.closed,
            abandoned=figures.rates.abandoned,
            refused=figures.rates.refused,
            labelled=figures.rates.labelled,
        ),
    )


# What is drawn from the figures (their JSON, the page's charts), kept per cached figures:
# `stats.network` answers the same object until the facts change them.
_drawn: dict[tuple[int, str], tuple[weakref.ref[stats.NetworkFigures], str]] = {}


def fragment(figures: stats.NetworkFigures, name: str, draw: Callable[[], str]) -> str:
    key = (id(figures), name)
    hit = _drawn.get(key)
    if hit is not None and hit[0]() is figures:
        return hit[1]
    text = draw()
    if len(_drawn) > 64:
        _drawn.clear()
    _drawn[key] = (weakref.ref(figures), text)
    return text


def network_json(figures: stats.NetworkFigures) -> bytes:
    return fragment(figures, "json", lambda: network_public(figures).model_dump_json()).encode()


def projects_url(**filters: object) -> str:
    return "/projects?" + urlencode({k: v for k, v in filters.items() if v is not None})


# --- charts -------------------------------------------------------------------------------------


# The longest label drawn in the chart's label column (the table beside it has the whole one).
SHORT_LABEL = 30


def short(label: str) -> str:
    return label if len(label) <= SHORT_LABEL else label[: SHORT_LABEL - 1].rstrip() + "…"


@dataclass
class Segment:
    value: float
    label: str
    colour: str
    href: str


@dataclass
class Bar:
    label: str
    segments: list[Segment]

    @property
    def short_label(self) -> str:
        return short(self.label)

    @property
    def total(self) -> float:
        return sum(s.value for s in self.segments)


@dataclass
class Range:
    """A duration: the 10th–90th percentile span, the median and the target."""

    label: str
    n: int
    median: float | None
    low: float | None
    high: float | None
    target: int | None
    href: str

    @property
    def short_label(self) -> str:
        return short(self.label)


@dataclass
class Chart:
    key: str
    title: str
    description: str
    bars: list[Bar] = field(default_factory=list)
    ranges: list[Range] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    unit: str = ""
    row_header: str = "Année"

    # Drawing: a label column, then the bars scaled to the largest value.
    width: int = 640
    label_width: int = 210
    row_height: int = 26

    @property
    def height(self) -> int:
        return (len(self.bars) + len(self.ranges)) * self.row_height + 30

    @cached_property
    def maximum(self) -> float:
        values = [b.total for b in self.bars]
        for r in self.ranges:
            values += [v for v in (r.high, r.median, r.target) if v is not None]
        return max([v for v in values if v] or [1])

    def x(self, value: float | None) -> float:
        plot = self.width - self.label_width - 50
        return self.label_width + plot * (value or 0) / self.maximum

    def scale(self, value: float | None) -> float:
        return self.x(value) - self.label_width


def _final_state(engine: Engine, kind: str, outcome: stats.Outcome) -> str | None:
    """The final state of the kind's definition that means `outcome` (for the list's filter)."""
    outcomes = stats.outcomes(engine)
    for state in engine.for_kind(kind).states:
        if outcomes.get(state.key) == outcome:
            return state.key
    return None


def charts(figures: stats.NetworkFigures, engine: Engine) -> list[Chart]:
    kinds = figures.kinds
    legend = [(KIND_NAMES.get(k, k), KIND_COLOURS.get(k, "#444")) for k in kinds]
    years = sorted({y.year for y in figures.by_year})
    by_year = {(y.year, y.kind): y for y in figures.by_year}
    labelled = Chart(
        "labellisees",
        "Régies labellisées, par année",
        "Nombre de Régies labellisées à la fin de chaque année (cumul), par type.",
        legend=legend,
    )
    under_way = Chart(
        "en-cours",
        "Projets en cours, par année",
        "Nombre de projets en cours (ni labellisés, ni refusés, ni abandonnés) à la fin de chaque "
        "année, par type.",
        legend=legend,
    )
    for year in years:
        labelled.bars.append(
            Bar(
                str(year),
                [
                    Segment(
                        by_year[(year, k)].labelled_total,
                        KIND_NAMES.get(k, k),
                        KIND_COLOURS.get(k, "#444"),
                        projects_url(labelled_by=year, kind=k),
                    )
                    for k in kinds
                    if (year, k) in by_year
                ],
            )
        )
        under_way.bars.append(
            Bar(
                str(year),
                [
                    Segment(
                        by_year[(year, k)].in_progress,
                        KIND_NAMES.get(k, k),
                        KIND_COLOURS.get(k, "#444"),
                        projects_url(open_at=year, kind=k),
                    )
                    for k in kinds
                    if (year, k) in by_year
                ],
            )
        )
    this_year = max(years) if years else None
    cohorts = Chart(
        "cohortes",
        "Cohortes par année de début",
        "Pour les projets commencés chaque année, par type : combien sont labellisés, en cours, "
        "refusés ou abandonnés aujourd'hui.",
        legend=[(label, colour) for _, label, colour in OUTCOME_SERIES],
        row_header="Cohorte",
    )
    for c in figures.cohorts:
        targets = {
            "labelled": _final_state(engine, c.kind, "label"),
            "refused": _final_state(engine, c.kind, "refus"),
            "abandoned": _final_state(engine, c.kind, "abandon"),
        }
        segments = []
        for attr, label, colour in OUTCOME_SERIES:
            if attr == "in_progress":
                href = projects_url(started=c.year, kind=c.kind, open_at=this_year)
            else:
                href = projects_url(started=c.year, kind=c.kind, state=targets[attr])
            segments.append(Segment(getattr(c, attr), label, colour, href))
        cohorts.bars.append(Bar(f"{c.year} · {KIND_NAMES.get(c.kind, c.kind)}", segments))
    funnel = Chart(
        "entonnoir",
        "Du groupe projet au label",
        "Nombre de projets entrés au moins une fois dans chaque étape, puis labellisés, par type.",
        legend=legend,
        row_header="Étape",
    )
    for f in figures.funnel:
        prefix = f"{f.step}. " if f.step else ""
        funnel.bars.append(
            Bar(
                prefix + f.label,
                [
                    Segment(
                        f.by_kind.get(k, 0),
                        KIND_NAMES.get(k, k),
                        KIND_COLOURS.get(k, "#444"),
                        projects_url(reached=f.state, kind=k),
                    )
                    for k in kinds
                ],
            )
        )
    durations = []
    for kind in kinds:
        chart = Chart(
            f"durees-{kind}",
            f"Temps passé dans chaque étape : {KIND_NAMES.get(kind, kind)}",
            "Pour chaque étape, la durée des passages terminés (suspensions exclues), en jours : "
            "du 10e au 90e centile (barre), la médiane (point) et la durée cible de la définition "
            "(trait).",
            unit="jours",
            legend=[
                ("10e–90e centile", "#9ab8d6"),
                ("Médiane", "#1f5f99"),
                ("Durée cible", "#b3261e"),
            ],
        )
        for s in figures.steps:
            if s.kind != kind:
                continue
            chart.ranges.append(
                Range(
                    f"{s.step}. {s.label}",
                    s.n,
                    s.median_days,
                    s.p10_days,
                    s.p90_days,
                    s.target_days,
                    projects_url(left=s.state, kind=kind),
                )
            )
        durations.append(chart)
    return [labelled, under_way, funnel, cohorts, *durations]


@dataclass
class RateView:
    label: str
    share: float | None
    count: int
    href: str


def rate_views(figures: stats.NetworkFigures, engine: Engine) -> list[RateView]:
    states = {o: s for s, o in stats.outcomes(engine).items()}
    return [
        RateView(
            "Abandons",
            figures.rates.abandon,
            figures.rates.abandoned,
            projects_url(state=states.get("abandon")),
        ),
        RateView(
            "Refus du label",
            figures.rates.refusal,
            figures.rates.refused,
            projects_url(state=states.get("refus")),
        ),
    ]
