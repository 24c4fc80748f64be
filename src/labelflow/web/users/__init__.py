"""Accounts (staff administrators) and the porteurs linked to a project, at the edge: JSON
routes (`api`), pages and forms (`pages`), presenters (`present`)."""
