"""Run examples/train.py for a few learning rates, each a real command-line run recorded in one store.

python examples/sweep.py runs            # file storage in ./runs
python examples/sweep.py sqlite:///runs.db
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    store = sys.argv[1] if len(sys.argv) > 1 else "runs"
    flag = (
        ["-F", store]
        if "://" not in store
        else (["-m", store] if store.startswith("mongodb") else ["-s", store])
    )
    for lr in [0.01, 0.03, 0.1, 0.3, 1.0]:
        cmd = [
            sys.executable,
            os.path.join(HERE, "train.py"),
            *flag,
            "-l",
            "WARNING",
            "with",
            f"lr={lr}",
            "seed=1",
            "-c",
            f"sweep lr={lr}",
        ]
        print("$", " ".join(cmd[1:]), flush=True)
        done = subprocess.run(cmd)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
