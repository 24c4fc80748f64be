"""Projects at the edge (list, dashboard, project page, transitions, suspension, deadlines,
history, workflows): JSON routes (`api`), pages (`pages`), presenters (`present`, `history`)."""
