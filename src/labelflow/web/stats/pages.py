"""« État du réseau » (`/stats/network`, staff): each figure as an SVG chart with its table, each
number linking to the project list behind it."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from labelflow import stats
from labelflow.permissions import PIPELINE_READ
from labelflow.web.deps import ActorDep, EngineDep, SessionDep, permit
from labelflow.web.routing import PART_MARK, page_router, render_with
from labelflow.web.stats.present import KIND_NAMES, charts, fragment, rate_views

router = page_router()


@router.get("/stats/network", dependencies=[permit(PIPELINE_READ)])
def network_page(
    request: Request, session: SessionDep, engine: EngineDep, actor: ActorDep
) -> Response:
    figures = stats.network(session, engine=engine, actor=actor)
    env = request.app.state.templates.env

    def draw() -> str:
        return str(
            env.get_template("_network_figures.html").render(
                figures=figures,
                charts=charts(figures, engine),
                rates=rate_views(figures, engine),
            )
        )

    return render_with(
        request,
        "stats_network.html",
        {
            "figures": figures,
            "figures_html": PART_MARK,
            "kind_names": KIND_NAMES,
            "min_passes": stats.MIN_PASSES,
            "nav": "stats",
            "json_url": "/api/v1/stats/network",
        },
        # The charts and their tables: drawn once per cached figures.
        {PART_MARK: fragment(figures, "page", draw)},
    )
