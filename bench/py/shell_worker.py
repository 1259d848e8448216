"""The same echo for python-shell in JSON mode: one JSON object per line on stdin/stdout."""
import json
import sys
import time

for line in sys.stdin:
    msg = json.loads(line)
    work = msg.get("work_us", 0)
    if work:
        end = time.perf_counter() + work / 1e6
        while time.perf_counter() < end:
            pass
    sys.stdout.write(json.dumps({"id": msg["id"], "result": msg["args"][0]}) + "\n")
    sys.stdout.flush()
