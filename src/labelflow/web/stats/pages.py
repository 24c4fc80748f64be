"""« État du réseau » (`/stats/network`, staff): each figure as an SVG chart with its table, each
number linking to the project list behind it."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from labelflow import dates, pipeline, stats
from labelflow.permissions import PIPELINE_READ
from labelflow.web.deps import ActorDep, EngineDep, SessionDep, permit
from labelflow.web.routing import PART_MARK, keep_shell, page_router, render_kept
from labelflow.web.stats.present import KIND_NAMES, charts, fragment, rate_views

router = page_router()


@router.get("/stats/network", dependencies=[permit(PIPELINE_READ)])
def network_page(
    request: Request, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> Response:
    # The figures' token and the shell's counts in one statement.
    state = pipeline.page_state(session, actor=actor)
    keep_shell(request, state.shell)
    figures = stats.network(session, engine=engine, actor=actor, token=state.figures)
    env = request.app.state.templates.env

    def draw() -> str:
        return str(
            env.get_template("_network_figures.html").render(
                figures=figures,
                charts=charts(figures, engine),
                rates=rate_views(figures, engine),
            )
        )

    # The page drawn once per cached figures and shell; the charts and their tables once per
    # cached figures, whoever's shell is around them.
    return render_kept(
        request,
        ("reseau-page", *stats.scope_key(actor, engine)),
        None if state.figures is None else (state.figures, dates.today()),
        "stats_network.html",
        lambda: {
            "figures": figures,
            "figures_html": PART_MARK,
            "kind_names": KIND_NAMES,
            "min_passes": stats.MIN_PASSES,
            "nav": "stats",
            "json_url": "/api/v1/stats/network",
        },
        lambda: {PART_MARK: fragment(figures, "page", draw)},
    )
