"""Adapters to the places a company's customers already live: its CRM's HTTP API, its SQL database.

Each implements the lookup domain's ``callercard.lookup.sources.LookupSource``; ``card_lookup`` builds a process's
``CardLookup`` with the sources its settings list, for the composition roots.
"""
