"""The study a user writes, validated before any work: schemas, loading, the tune plan, claims
files.
"""
