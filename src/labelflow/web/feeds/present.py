"""Calendar feeds as shown: the feed's absolute address, the « Mon compte » section."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from labelflow import feeds
from labelflow.actors import Actor


def feed_url(base_url: str, secret: str) -> str:
    return base_url.rstrip("/") + feeds.feed_path(secret)


def calendar_context(
    session: Session, actor: Actor, *, new_url: str = "", replaced: bool = False
) -> dict[str, Any]:
    """What the « Agenda » section of « Mon compte » needs."""
    feed = feeds.get_feed(session, user_id=actor.user_id or 0)
    return {"calendar_feed": feed, "calendar_new_url": new_url, "calendar_replaced": replaced}
