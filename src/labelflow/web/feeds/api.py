"""Calendar feeds in the JSON API (the signed-in person's own) and the feed, public by its
secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from labelflow import feeds
from labelflow.schemas import CalendarFeedCreated
from labelflow.web.deps import EngineDep, IdentityDep, SessionDep, SettingsDep
from labelflow.web.feeds.present import feed_url
from labelflow.web.routing import api_router

router = api_router()


@router.post(
    "/me/calendar",
    status_code=201,
    tags=["comptes"],
    summary="Créer (ou remplacer) l'adresse de mon agenda",
)
def create_my_calendar(
    identity: IdentityDep, session: SessionDep, settings: SettingsDep
) -> CalendarFeedCreated:
    """The address is shown once; a former one stops working."""
    secret = feeds.create_feed(session, user=identity.user)
    return CalendarFeedCreated(url=feed_url(settings.base_url, secret))


@router.delete(
    "/me/calendar", status_code=204, tags=["comptes"], summary="Révoquer l'adresse de mon agenda"
)
def revoke_my_calendar(identity: IdentityDep, session: SessionDep) -> Response:
    feeds.revoke_feed(session, user_id=identity.user.id or 0)
    return Response(status_code=204)


# Before any sign-in: a calendar application knows only the address. Not JSON: left out of the
# API's schema, like the pages.
public_router = APIRouter(tags=["comptes"], include_in_schema=False)

# Anything else than a live secret is « not found », malformed or not.
Secret = Annotated[str, Path(description="L'adresse secrète de l'agenda")]


@public_router.get(
    "/calendar/{secret}.ics",
    summary="Mon agenda (iCalendar), par son adresse secrète",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "Adresse révoquée"}},
)
def calendar_feed(
    secret: Secret, session: SessionDep, engine: EngineDep, settings: SettingsDep
) -> Response:
    user = feeds.owner_of(session, secret=secret)
    body = feeds.render_feed(
        feeds.entries(session, user=user, engine=engine, base_url=settings.base_url),
        name=user.name,
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer"},
    )
