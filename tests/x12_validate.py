"""Validates one X12 interchange (the file named on the command line) with
pyx12 against the map its GS08 names (837P 005010X222A1, 277 005010X212,
999 005010X231A1…). pyx12's exit status says nothing
(its console script exits 1 on success), so the verdict is the return value
of its Python API and the 999 it writes: printed as `OK` or `FAILED`, with
exit 0 only when both pyx12 and the 999 accept the file. A 999 is not
itself acknowledged: for one, pyx12's verdict and its silence about errors
decide. Exit 2 when pyx12 is missing."""

import io
import sys

try:
    import pyx12.params
    import pyx12.x12n_document
except ImportError as error:
    print(f"pyx12 is not installed: {error}", file=sys.stderr)
    sys.exit(2)


def main(path):
    ack = io.StringIO()
    errors = io.StringIO()
    stderr = sys.stderr
    sys.stderr = errors
    try:
        ok = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(),
            src_file=path,
            fd_997=ack,
            fd_html=None,
            fd_xmldoc=None,
            map_path=None,
        )
    finally:
        sys.stderr = stderr
    text = ack.getvalue()
    if not text and ok and not errors.getvalue().strip():
        with open(path, encoding="utf-8") as handle:
            if "GS*FA*" in handle.read():
                print("OK")
                return 0
    accepted = "IK5*A" in text and "AK9*A" in text and "IK5*R" not in text and "AK9*R" not in text
    if ok and accepted:
        print("OK")
        return 0
    print("FAILED")
    print(errors.getvalue(), file=sys.stderr)
    print(text, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
