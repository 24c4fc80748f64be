"""The « Aide » page, for every signed-in role."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from labelflow.web.deps import ActorDep, EngineDep, SettingsDep
from labelflow.web.help.present import help_context
from labelflow.web.routing import page_router, render

router = page_router()


@router.get("/aide")
def help_page(
    request: Request, engine: EngineDep, actor: ActorDep, settings: SettingsDep
) -> Response:
    context = help_context(engine, actor, contact_email=settings.contact_email)
    return render(request, "help.html", context)
