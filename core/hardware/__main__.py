"""`python -m core.hardware [--save FILE]`: this machine's profile as JSON, with nothing but core.hardware.

The same answer as `quantdoctor-cli gpus --json`, for machines where only the standard library,
pynvml and psutil are installed (a GPU box measuring llama.cpp, a support request).
"""

from __future__ import annotations

import argparse
import json
import sys

from core.errors import QuantDoctorError
from core.hardware import detect_hardware, save_profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.hardware", description=__doc__.splitlines()[0])
    parser.add_argument("--save", metavar="FILE", help="also write the profile to FILE.json")
    args = parser.parse_args(argv)
    try:
        profile = detect_hardware()
        if args.save:
            save_profile(profile, args.save)
    except QuantDoctorError as err:
        print(f"Error: {err.message}\nFix: {err.fix}", file=sys.stderr)
        return 2
    json.dump(profile.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
