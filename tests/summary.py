#!/usr/bin/env python3
"""Sums meson's testlog.json files into the line CI looks for:
'N passed, M failed' (', K skipped' when some were skipped)."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding='utf-8').read().splitlines()
    except OSError:
        print(f'{path}: missing, counted as one failure', file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line).get('result', '')
        if r in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif r == 'SKIP':
            skipped += 1
        else:
            failed += 1
tail = f', {skipped} skipped' if skipped else ''
print(f'{passed} passed, {failed} failed{tail}')
