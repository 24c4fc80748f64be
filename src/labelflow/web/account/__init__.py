"""Sign-in and the signed-in account at the edge (login, logout, « Mon compte », personal API
tokens, `/api/v1/me`): JSON routes (`api`), pages (`pages`), presenters (`present`)."""
