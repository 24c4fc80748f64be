"""The demo's people: the fixed team, and the names the porteurs and contacts are drawn from."""

from __future__ import annotations

# The fixed demo accounts (name, admin) of the staff; porteurs are created one per project.
STAFF = [("Camille Roussel", True), ("Julien Marchand", False)]
# A regional team: staff limited to one région's projects (not among the builder's actors).
REGIONAL_STAFF = [("Sophie Delattre", ["Hauts-de-France"])]
CONSULTANTS = ["Hélène Garnier", "Bernard Lemoine"]
BUREAU = [
    "Françoise Vasseur",
    "Alain Mercier",
    "Nadia Bensalem",
    "Gilles Tessier",
    "Odile Lacroix",
]
# fmt: off
FIRST_NAMES = [
    "Fatou", "Marie", "Karima", "Jean-Pierre", "Mohamed", "Sylvie", "Rachid", "Nathalie",
    "Ibrahima", "Monique", "Yasmina", "Patrick", "Aïcha", "Thierry", "Chantal", "Samir",
    "Brigitte", "Moussa", "Isabelle", "Hakim", "Josiane", "Bruno", "Leïla", "Gérard"
]
LAST_NAMES = [
    "Diallo", "Martin", "Benaïssa", "Dupuis", "Haddad", "Lambert", "Cissé", "Moreau", "Traoré",
    "Girard", "Mebarki", "Fontaine", "Ndiaye", "Roux", "Bouzid", "Lefebvre", "Camara", "Perrin",
    "Kaci", "Chevalier", "Mendy", "Faure", "Belkacem", "Renaud"
]
# fmt: on
