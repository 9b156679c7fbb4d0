"""The analysis stage: every table of a study computed once into an ``Analysis`` (statistics,
motifs, claims).
"""
