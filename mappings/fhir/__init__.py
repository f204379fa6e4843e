"""FHIR R4 resources → the hub's facts (parsed and validated with `fhir.resources.R4B`).

Pure: nothing here touches the store. Resolving a subject reference to an elder happens in the
application service; the mapping only says how the sender named the subject.
"""
