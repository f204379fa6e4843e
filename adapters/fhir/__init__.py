"""FHIR R4 edge: ingest of resources and Bundles, and the read facade."""
