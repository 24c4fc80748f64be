"""Consultant assignments and their independence declarations at the edge: JSON routes
(`api`), pages and forms (`pages`), presenters (`present`)."""
