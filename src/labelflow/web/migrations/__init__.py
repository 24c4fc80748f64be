"""Moving running projects to a newer definition version: the API and the workflow's page."""
