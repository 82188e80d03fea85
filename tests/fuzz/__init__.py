"""krmfn's own fuzzer: generated and mutated inputs (`mutations`) run through the real
function and checked against the KRM contract (`contract`). The tests that drive it, and
how to run a longer campaign, are in tests/test_fuzz.py."""
