"""The Bureau at the edge (agenda, meetings, recusals, decisions): JSON routes (`api`), pages
(`pages`), presenters (`present`)."""
