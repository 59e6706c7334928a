"""Child process of test_rate_limits: ``count`` real lab calls (sts:GetCallerIdentity) through a ClientFactory of
the given config. Prints ``ready`` once its client exists, starts on a line from stdin (both children start
together), then prints when it began and when each request was sent, as JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from skyvault.aws.clients import ClientFactory
from skyvault.config import load_config


def main() -> None:
    config_path, account, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    config = load_config(config_path)
    factory = ClientFactory(config, base_dir=config_path.parent, strict_guard=True)
    sts = factory.client(account, config.account(account).regions[0], "sts")
    sent: list[float] = []
    # Registered after the factory's rate-limit hook, so it runs once the request got its token: the send time.
    sts.raw.meta.events.register("before-send", lambda **_: sent.append(time.time()))
    print("ready", flush=True)
    sys.stdin.readline()
    began = time.time()
    for _ in range(count):
        sts.get_caller_identity()
    print(json.dumps({"began": began, "sent": sent}), flush=True)


if __name__ == "__main__":
    main()
