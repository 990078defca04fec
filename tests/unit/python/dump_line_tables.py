"""Prints, for every code object compiled from the given source files by the running
interpreter, the oracle for LineOfCodeUnit: `FORMAT FIRSTLINE HEXTABLE L0,L1,...` with the line
of each code unit (2-byte instruction word) as the interpreter itself reports it (-1 for none):
co_lines() from 3.10, dis.findlinestarts() before. FORMAT is the table's: locations (3.11+),
linetable (3.10), lnotab (3.8, 3.9)."""
import dis
import sys


def walk(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            yield from walk(c)


version = sys.version_info[:2]
fmt = "locations" if version >= (3, 11) else "linetable" if version == (3, 10) else "lnotab"
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        try:
            top = compile(f.read(), path, "exec")
        except SyntaxError:
            continue  # newer syntax than this interpreter's
    for code in walk(top):
        units = len(code.co_code) // 2
        lines = [-1] * units
        if version >= (3, 10):
            table = code.co_linetable
            for start, end, line in code.co_lines():
                for i in range(start // 2, min(end // 2, units)):
                    lines[i] = -1 if line is None else line
        else:
            table = code.co_lnotab
            starts = list(dis.findlinestarts(code))
            line = code.co_firstlineno
            k = 0
            for i in range(units):
                while k < len(starts) and starts[k][0] <= 2 * i:
                    line = starts[k][1]
                    k += 1
                lines[i] = line
        print(fmt, code.co_firstlineno, table.hex() or "-", ",".join(map(str, lines)))
