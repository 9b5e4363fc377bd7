"""junit_results.py FILE — one line per test case from regrtest's
--junit-xml output: "<test id> <status>/<result> [<outcome tags>]", in
execution order, without the timings, so two runs can be compared."""
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    print(f"no usable junit xml: {type(e).__name__}")
    sys.exit(0)
n = 0
for case in root.iter("testcase"):
    tags = sorted({child.tag for child in case})
    print(f"{case.get('name')} {case.get('status')}/{case.get('result')}"
          + (f" [{' '.join(tags)}]" if tags else ""))
    n += 1
print(f"{n} test cases")
