"""`GET /api/v1/stats/network`: the network's figures (staff), for the projects the caller sees."""

from __future__ import annotations

from fastapi.responses import Response

from labelflow import stats
from labelflow.permissions import PIPELINE_READ
from labelflow.schemas import NetworkStatsPublic
from labelflow.web.deps import ActorDep, EngineDep, SessionDep, permit
from labelflow.web.routing import api_router
from labelflow.web.stats.present import network_json

router = api_router()


@router.get(
    "/stats/network",
    tags=["statistiques"],
    summary="État du réseau : labels, projets en cours, cohortes, entonnoir, durées des étapes",
    dependencies=[permit(PIPELINE_READ)],
    response_model=NetworkStatsPublic,
)
def network(session: SessionDep, engine: EngineDep, actor: ActorDep) -> Response:
    # The figures' JSON is kept with the cached figures: the same bytes until they change.
    body = network_json(stats.network(session, engine=engine, actor=actor))
    return Response(content=body, media_type="application/json")
