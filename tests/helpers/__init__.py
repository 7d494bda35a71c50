"""Helpers the tests share: services and databases, API clients, factories, checkout payloads.

Imported by test modules and conftest files alike; fixtures stay in the conftest files.
"""
