"""Calendar feeds at the edge: `POST`/`DELETE /api/v1/me/calendar` and the feed itself,
`GET /calendar/{secret}.ics`, public by its secret (`api`); the « Mon compte » section
(`present`, its forms in `account/pages.py`, the account's page)."""
