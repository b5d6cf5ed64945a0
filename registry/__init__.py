"""Tollgate model registry: sourced facts about jurisdictions, regions, scopes, providers, models."""
