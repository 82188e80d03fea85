"""Bounds on templates and their output, so that rendering time and memory stay small."""

MAX_OUTPUT: int = 64 * 1024
# Deep enough for any hand-written template, shallow enough that jinja2's recursive
# parser and code generator stay far from Python's recursion limit.
MAX_DEPTH = 32
# printf widths/precisions above this are only useful for blowing up memory.
MAX_WIDTH = 4096
# jinja2 compiles a template in time that grows faster than linearly with its size (a
# single 50,000-operand action takes seconds). These keep the worst case near half a
# second; templates rendered without jinja2 are linear and not limited.
MAX_ACTIONS = 500
MAX_TOKENS = 2000
