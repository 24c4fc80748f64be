"""Notifications at the edge: the bell's count, the « Notifications » page, read and read-all,
preferences on « Mon compte », following a project (`api`, `pages`, `present`)."""
