"""Webhooks at the edge (administrators): the JSON API (`api`), the « Webhooks » page (`pages`)
and what both show (`present`)."""
