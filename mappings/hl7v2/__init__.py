"""HL7 v2: a small ER7 reader for the fields the mappings use, tables, and message mappings."""
