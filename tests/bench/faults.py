"""`make faults`: the EC2 fault matrix (tests/lab/fault_matrix.py), one line per case.

Each line is JSON: step, fault, outcome, seconds (the faulted call, retries included), leaked (what
the faulted call left that it should not have; must be 0). Exits non-zero if any case did not end as
it should. The same cases run as tests in `make test` (tests/integration/aws/test_api_faults.py);
this prints their measurements.
"""

from __future__ import annotations

import json
import sys

from tests.lab import fault_matrix
from tests.lab.endpoint import LabEndpoint


def main() -> int:
    lab = LabEndpoint().start()
    failed = 0
    try:
        cases = [(fault_matrix.run_throttled, case) for case in fault_matrix.THROTTLED]
        cases += [(fault_matrix.run_refused, case) for case in fault_matrix.REFUSED]
        for runner, case in cases:
            outcome = runner(fault_matrix.World.make(lab), *case)
            failed += not outcome.passed
            print(json.dumps({"step": outcome.step, "fault": outcome.fault, "outcome": outcome.outcome,
                              "seconds": outcome.seconds, "leaked": len(outcome.leaked)}), flush=True)
    finally:
        lab.stop()
    print(json.dumps({"cases": len(cases), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
