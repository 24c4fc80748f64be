"""Documents (pièces) at the edge: JSON routes (`api`), page forms (`pages`), presenters
(`present`)."""
