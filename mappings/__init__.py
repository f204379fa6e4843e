"""Pure translation: HL7 v2, FHIR and file formats into the hub's facts, and the code tables.

Nothing here does I/O beyond reading the package's own data files.
"""
