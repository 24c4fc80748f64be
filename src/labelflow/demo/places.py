"""The demo's places: communes, quartiers (QPV), the habitants' collective and the partners."""

from __future__ import annotations

from dataclasses import dataclass

from labelflow.french import de


@dataclass(frozen=True)
class Place:
    communes: list[tuple[str, str]]  # (INSEE code, name)
    region: str
    departement: str
    qpv: list[str]
    habitants: str  # the habitants' collective
    collectivite: str
    third: str  # bailleur social (quartier) or local economic partner (territoire)
    regie_visited: str


def _quartier(
    insee: str,
    commune: str,
    region: str,
    departement: str,
    qpv: list[str],
    collectif: str,
    bailleur: str,
    visited: str,
) -> Place:
    """A quartier of one commune, whose collectivité is the town itself."""
    return Place(
        [(insee, commune)],
        region,
        departement,
        qpv,
        collectif,
        f"Ville {de(commune)}",
        bailleur,
        visited,
    )


# The places are data tables: kept one place per block rather than one value per line.
# fmt: off
ROUBAIX = _quartier("59512", "Roubaix", "Hauts-de-France", "Nord", ["Trois Ponts", "Épeule"],
                    "Conseil citoyen des Trois Ponts", "Vilogia",
                    "la Régie de quartier de Tourcoing")
GRENOBLE = _quartier("38185", "Grenoble", "Auvergne-Rhône-Alpes", "Isère",
                     ["Villeneuve", "Village Olympique"], "Union de quartier Villeneuve",
                     "Actis", "une Régie de quartier de l'agglomération lyonnaise")
SAINT_DENIS = _quartier("93066", "Saint-Denis", "Île-de-France", "Seine-Saint-Denis",
                        ["Franc-Moisin", "Bel-Air"], "Amicale des locataires du Franc-Moisin",
                        "Plaine Commune Habitat", "une Régie de quartier du Val-de-Marne")
MARSEILLE = _quartier("13055", "Marseille", "Provence-Alpes-Côte d'Azur", "Bouches-du-Rhône",
                      ["Frais-Vallon", "Le Mail"], "Collectif des habitants de Frais-Vallon",
                      "13 Habitat", "une Régie de quartier d'Avignon")
AMIENS = _quartier("80021", "Amiens", "Hauts-de-France", "Somme", ["Amiens Nord", "Étouvie"],
                   "Conseil citoyen d'Amiens Nord", "Amiens Habitat",
                   "une Régie de quartier du Nord")
RENNES = _quartier("35238", "Rennes", "Bretagne", "Ille-et-Vilaine", ["Maurepas"],
                   "Association des habitants de Maurepas", "Archipel Habitat",
                   "une Régie de quartier de Nantes")
TOULOUSE = _quartier("31555", "Toulouse", "Occitanie", "Haute-Garonne", ["Empalot"],
                     "Comité de quartier d'Empalot", "Toulouse Métropole Habitat",
                     "une Régie de quartier de Montpellier")
MULHOUSE = _quartier("68224", "Mulhouse", "Grand Est", "Haut-Rhin", ["Coteaux"],
                     "Conseil citoyen des Coteaux", "m2A Habitat",
                     "une Régie de quartier de Strasbourg")
NANTES = _quartier("44109", "Nantes", "Pays de la Loire", "Loire-Atlantique", ["Bellevue"],
                   "Collectif des habitants de Bellevue", "Nantes Métropole Habitat",
                   "une Régie de quartier de Rennes")
PAYS_DE_BRAY = Place(
    [("76312", "Gournay-en-Bray"), ("76276", "Forges-les-Eaux"),
     ("76260", "Ferrières-en-Bray"), ("76462", "Neufchâtel-en-Bray")],
    "Normandie", "Seine-Maritime", [], "Collectif d'habitants du Pays de Bray",
    "Communauté de communes des Quatre Rivières", "Mission locale du Pays de Bray",
    "une Régie de Territoire de l'Oise",
)
HAUTE_CORREZE = Place(
    [("19275", "Ussel"), ("19136", "Meymac"), ("19073", "Égletons")],
    "Nouvelle-Aquitaine", "Corrèze", [], "Association des habitants de Haute-Corrèze",
    "Communauté de communes Haute-Corrèze", "Maison de l'emploi de Haute-Corrèze",
    "une Régie de Territoire du Limousin",
)
SUD_CREUSE = Place(
    [("23008", "Aubusson"), ("23079", "Felletin")],
    "Nouvelle-Aquitaine", "Creuse", [], "Collectif citoyen Aubusson-Felletin",
    "Communauté de communes Creuse Grand Sud", "Chantier d'insertion du Sud-Creuse",
    "une Régie de Territoire de la Creuse",
)
EXTRA_PLACES = [
    _quartier("63113", "Clermont-Ferrand", "Auvergne-Rhône-Alpes", "Puy-de-Dôme",
              ["Saint-Jacques", "Croix-de-Neyrat"], "Conseil citoyen de Saint-Jacques",
              "Assemblia", "une Régie de quartier de Saint-Étienne"),
    _quartier("67482", "Strasbourg", "Grand Est", "Bas-Rhin", ["Neuhof"],
              "Conseil citoyen du Neuhof", "Ophéa", "une Régie de quartier de Mulhouse"),
    _quartier("25056", "Besançon", "Bourgogne-Franche-Comté", "Doubs", ["Planoise"],
              "Association des habitants de Planoise", "Grand Besançon Habitat",
              "une Régie de quartier de Dijon"),
    _quartier("34172", "Montpellier", "Occitanie", "Hérault", ["Petit Bard – Pergola"],
              "Collectif des habitants du Petit Bard", "ACM Habitat",
              "une Régie de quartier de Nîmes"),
]
# fmt: on
