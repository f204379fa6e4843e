"""The edges: HL7 v2 and MLLP, the HTTP API, the CLI, and the composition root (bootstrap)."""
