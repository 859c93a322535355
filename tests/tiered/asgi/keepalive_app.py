"""The small app ``test_keepalive`` serves for real: importable, so granian can load it too.

``POST /echo`` is a form without CSRF (like an API route) that echoes its fields, ``POST
/protected`` one with CSRF, ``GET /ping`` what a second request on the connection asks for.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

import tiered
from tiered import Done, TieredSettings


class Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


def build() -> FastAPI:
    app = FastAPI()
    tiered.install(app, TieredSettings(debug=True))

    @app.post("/echo")
    @tiered.csrf_exempt
    @tiered.form(Anything)
    async def echo(data: Anything) -> Done[Anything]:
        return Done("/echo", data=data)

    @app.post("/protected")
    @tiered.form(Anything)
    async def protected(data: Anything) -> Done[Anything]:  # pragma: no cover (CSRF refuses)
        return Done("/protected", data=data)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


app = build()
