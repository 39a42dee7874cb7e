"""Writes knowledge/icd10cm-2026.tsv.gz, the ICD-10-CM code set Bedside checks
diagnoses against, from the CDC tabular data shipped in the PyPI package
simple-icd-10-cm 1.5.0 (the April 1 2026 update, fiscal year 2026).

    python3 -m pip install simple-icd-10-cm==1.5.0
    python3 tools/icd10cm_table.py

Each line: the code with its dot, 1 when billable (a leaf: coded to full
specificity) or 0 for a header, and the description, separated by tabs.
"""

import gzip
import pathlib

import simple_icd_10_cm as icd

OUT = pathlib.Path(__file__).resolve().parent.parent / "knowledge" / "icd10cm-2026.tsv.gz"

seen = set()
rows = []
for code in icd.get_all_codes(with_dots=True):
    if code in seen or not (icd.is_category(code) or icd.is_subcategory(code)):
        continue
    seen.add(code)
    billable = "1" if icd.is_leaf(code) else "0"
    description = " ".join(icd.get_description(code).split())
    rows.append(f"{code}\t{billable}\t{description}\n")

header = (
    "# ICD-10-CM FY2026 (CDC/NCHS tabular, April 1 2026 update), from the PyPI package "
    "simple-icd-10-cm 1.5.0; written by tools/icd10cm_table.py\n"
    "# code\tbillable\tdescription\n"
)
# mtime=0 keeps the file byte-identical between runs.
with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
    out.write((header + "".join(rows)).encode("utf-8"))
print(f"{len(rows)} codes, {sum(r.split(chr(9))[1] == '1' for r in rows)} billable -> {OUT}")
