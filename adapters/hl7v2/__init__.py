"""HL7 v2 intake: decode, read, map, record, and acknowledge only after the commit."""
