"""``python -m examples.notes [--host H] [--port P]``: serve the notes example."""

from __future__ import annotations

import argparse

import uvicorn

from examples.notes.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the tiered notes example.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    print(f"Notes on http://{args.host}:{args.port}/ (Ctrl+C stops it)", flush=True)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
