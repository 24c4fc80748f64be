"""The expertise report at the edge: JSON routes and its PDF (`api`), the consultant's form and
staff's reopening (`pages`), presenters (`present`)."""
