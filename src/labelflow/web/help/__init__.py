"""The « Aide » page at the edge (`/aide`): the steps in plain words, who does what, how to reach
the national team; a page (`pages`) and its presenter (`present`), no JSON twin."""
