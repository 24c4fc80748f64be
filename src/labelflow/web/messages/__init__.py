"""Project messages at the edge: JSON routes (`api`), page form (`pages`), presenters
(`present`)."""
