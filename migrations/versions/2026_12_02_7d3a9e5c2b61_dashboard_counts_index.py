"""dashboard counts index: the staff dashboard's counts per kind, definition version and state
(suspended, region for a regional team) read an index of those columns, not the projects' rows

Revision ID: 7d3a9e5c2b61
Revises: 9c4e1a7b3f58
Create Date: 2026-12-02 15:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7d3a9e5c2b61"
down_revision: str | None = "9c4e1a7b3f58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["kind", "workflow_key", "workflow_version", "state", "suspended", "region"]


def upgrade() -> None:
    op.create_index("ix_projects_pipeline_counts", "projects", COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_projects_pipeline_counts", table_name="projects")
