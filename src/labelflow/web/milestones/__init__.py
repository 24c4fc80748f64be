"""Milestones (jalons) at the edge: JSON routes (`api`), page forms (`pages`), presenters
(`present`). They are deadlines of kind `jalon`: the project's `deadlines` list them too."""
