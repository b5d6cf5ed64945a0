"""The registry feature: revisioned CRUD over the registry domain, its REST API and CLI."""
