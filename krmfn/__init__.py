"""krmfn: llm-d ModelService model artifacts applied at render time, as a KRM function."""
