"""The jobs at the edge, for administrators: `GET /api/v1/jobs` and « Relancer » (`api`), the
pages « Tâches » (`/taches`) and « Courriels envoyés » (`/courriels`, the local mailbox)
(`pages`), and what they show (`present`)."""
