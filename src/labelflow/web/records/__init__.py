"""The project's file at the edge (its fields, stakeholders, board members, attestations):
JSON routes (`api`), page forms (`pages`), presenters (`present`)."""
