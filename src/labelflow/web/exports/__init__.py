"""The project list as a spreadsheet, for staff: `GET /api/v1/exports/projects.csv` and
`.xlsx` (`api`), linked from the project list with its filters."""
