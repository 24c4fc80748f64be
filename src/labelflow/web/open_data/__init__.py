"""The open data at the edge, for anyone without signing in: `GET /api/v1/open-data/regies`
and `GET /open-data/regies.csv` (`api`), the page `/regies` (`pages`), their shapes
(`present`)."""
