"""Loading the demo: the team's accounts, then one transaction per scenario."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine as SAEngine
from sqlmodel import func, select

from labelflow import consequences, dates, pdf
from labelflow.db import transaction
from labelflow.demo.builder import Builder
from labelflow.demo.scenarios import extra_scenario, scenarios
from labelflow.demo.story import build_project
from labelflow.demo.team import DEMO_ACCOUNTS_AGE, ensure_demo_accounts
from labelflow.models import Project
from labelflow.settings import PROJECT_ROOT
from labelflow.storage import Storage
from labelflow.workflow import Engine


def project_count(db: SAEngine) -> int:
    with transaction(db, write=False) as session:
        return int(session.exec(select(func.count()).select_from(Project)).one())


def load_demo(
    db: SAEngine,
    workflows: Engine,
    *,
    store: Storage,
    count: int = 12,
    seed: int = 0,
    templates_dir: Path | None = None,
) -> list[int]:
    """Create `count` demo projects (the dozen scenarios first) and the demo accounts (one per
    role, one porteur per project, all with `DEMO_PASSWORD`); returns the projects' ids."""
    consequences.install()  # the demo records its facts through the services, as the app does
    rng = random.Random(seed)
    origin = dates.now()
    # The decision letters' templates (the app's own environment when it runs).
    letters_env = pdf.make_environment(templates_dir or PROJECT_ROOT / "templates")
    people = ensure_demo_accounts(db, since=origin - timedelta(days=DEMO_ACCOUNTS_AGE))
    chosen = scenarios()[:count]
    chosen += [extra_scenario(i, rng) for i in range(count - len(chosen))]
    ids = []
    used_names: set[str] = set()
    for scenario in chosen:
        with transaction(db) as session:
            builder = Builder(
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
            project = build_project(builder)
            assert project.id is not None
            ids.append(project.id)
    return ids
