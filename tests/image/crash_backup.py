"""Child process for test_crash: back up an image slowly enough to be killed mid-way (SIGKILL)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from skyvault.library.backends import LocalBackend
from skyvault.library.repository import Repository
from skyvault.services.image import backup_image


def main() -> None:
    library, image, passphrase = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    repo = Repository.open(LocalBackend(library), passphrase=passphrase)
    parent = repo.latest("image", str(image.resolve()))
    print("READY", flush=True)
    with repo.lock(purpose="crash test"):
        backup_image(repo, image, parent=parent, progress=lambda _n: time.sleep(0.001))
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
