"""labelflow: the labelling-process workflow engine of the Mouvement des Régies."""

__version__ = "0.1.0"
