#!/usr/bin/env python3
"""Writes a CUnit main() that registers every `void test_*(void)` function
found in the given C files, one suite per file (Cyrus-style discovery:
adding a test is adding a function).  A file may define
`int suite_init(void)` / `int suite_cleanup(void)` hooks by naming them
`<file-stem>_init` / `<file-stem>_cleanup`."""
import re
import sys
import os

out = sys.argv[1]
srcs = sys.argv[2:]
fn_re = re.compile(r'^void\s+(test_\w+)\s*\(\s*void\s*\)', re.M)
lines = ['#include <CUnit/Basic.h>', '#include <stdio.h>', '#include <stdlib.h>', '']
suites = []
for path in srcs:
    text = open(path, encoding='utf-8').read()
    stem = os.path.splitext(os.path.basename(path))[0]
    tests = fn_re.findall(text)
    init = f'{stem}_init' if re.search(rf'^int\s+{stem}_init\s*\(\s*void\s*\)', text, re.M) else None
    clean = f'{stem}_cleanup' if re.search(rf'^int\s+{stem}_cleanup\s*\(\s*void\s*\)', text, re.M) else None
    for t in tests:
        lines.append(f'void {t}(void);')
    if init:
        lines.append(f'int {init}(void);')
    if clean:
        lines.append(f'int {clean}(void);')
    suites.append((stem, tests, init, clean))
lines += ['', 'int main(void)', '{',
          '\tCU_pSuite s;',
          '\tif (CU_initialize_registry() != CUE_SUCCESS) return 2;']
for stem, tests, init, clean in suites:
    lines.append(f'\ts = CU_add_suite("{stem}", {init or "NULL"}, {clean or "NULL"});')
    lines.append('\tif (s == NULL) return 2;')
    for t in tests:
        lines.append(f'\tCU_add_test(s, "{t}", {t});')
lines += ['\tCU_basic_set_mode(CU_BRM_VERBOSE);',
          '\tCU_basic_run_tests();',
          '\tunsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();',
          '\tunsigned ran = CU_get_number_of_tests_run();',
          '\tCU_cleanup_registry();',
          '\tif (ran == 0) { fprintf(stderr, "no tests ran\\n"); return 1; }',
          '\treturn failed ? 1 : 0;', '}', '']
open(out, 'w').write('\n'.join(lines))
