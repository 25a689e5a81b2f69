"""``POST /webhooks/<source>``: store the payload, answer 202 at once, process it later."""

from starlette.responses import JSONResponse

from livebase import Cors, HttpRouter

http = HttpRouter(cors=Cors(allowed_origins=["*"]))


@http.route(path_prefix="/webhooks/", method="POST")
async def receive(ctx, request):
    source = request.url.path.removeprefix("/webhooks/").strip("/")
    if not source:
        return JSONResponse({"error": "POST /webhooks/<source>"}, status_code=404)
    try:
        payload = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body must be JSON"}, status_code=400)
    hook_id = await ctx.run_mutation("webhooks:receive", {"source": source, "payload": payload})
    return JSONResponse({"id": hook_id, "status": "received"}, status_code=202)
