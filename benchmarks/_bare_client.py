"""The baseline for throughput.py: a bare aiohttp client, nothing but PUTs.

One ClientSession, N concurrent workers, one token from the token URL (client_id and
client_secret as form fields), then PUT every pre-built JSON body once. No validation, no
journal, no report. Prints one JSON line: rows, seconds (PUTs only) and statuses.

    python benchmarks/_bare_client.py BODIES.jsonl --api-url URL --token-url URL [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp


async def main(args: argparse.Namespace) -> dict[str, object]:
    with Path(args.bodies).open(encoding="utf-8") as handle:
        bodies = [json.loads(line) for line in handle]
    statuses: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        form = {
            "grant_type": "client_credentials",
            "client_id": os.environ.get("CG_CLIENT_ID", "demo-client"),
            "client_secret": os.environ.get("CG_CLIENT_SECRET", "demo-secret"),
        }
        async with session.post(args.token_url, data=form) as resp:
            resp.raise_for_status()
            token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        pending = iter(bodies)  # shared by the workers; each body is taken exactly once

        async def worker() -> None:
            for body in pending:
                async with session.put(args.api_url, json=body, headers=headers) as resp:
                    text = await resp.text()
                    statuses[str(resp.status)] += 1
                if resp.status == 200:
                    json.loads(text)["data"]["id"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        seconds = time.perf_counter() - started
    return {
        "rows": len(bodies),
        "seconds": seconds,
        "rows_per_second": len(bodies) / seconds if seconds else 0.0,
        "statuses": dict(statuses),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bodies")
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token-url", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    result = asyncio.run(main(parser.parse_args()))
    json.dump(result, sys.stdout)
    print()
