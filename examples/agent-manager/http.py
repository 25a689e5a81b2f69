"""``POST /github/webhook``: check the signature, store the delivery once, answer 202 at once;
``github:process`` does the work later, with retries."""

import json
import os

from starlette.responses import JSONResponse

from livebase import HttpRouter

from ._github import SECRET_VARIABLE, signature_ok, summarize

http = HttpRouter()


@http.route("/github/webhook", method="POST")
async def github_webhook(ctx, request):
    secret = os.environ.get(SECRET_VARIABLE, "")
    if not secret:  # fail closed: never accept unsigned webhooks
        message = f"the server has no {SECRET_VARIABLE}: webhooks are refused"
        return JSONResponse({"error": message}, status_code=503)
    body = await request.body()
    if not signature_ok(secret, body, request.headers.get("x-hub-signature-256")):
        return JSONResponse({"error": "bad or missing X-Hub-Signature-256"}, status_code=401)
    event = request.headers.get("x-github-event", "")
    delivery = request.headers.get("x-github-delivery", "")
    if not event or not delivery or len(delivery) > 100 or len(event) > 100:
        message = "X-GitHub-Event and X-GitHub-Delivery are required"
        return JSONResponse({"error": message}, status_code=400)
    try:
        payload = json.loads(body)
    except ValueError:
        message = "the body must be JSON (set the webhook's content type to application/json)"
        return JSONResponse({"error": message}, status_code=400)
    stored = await ctx.run_mutation(
        "github:receive",
        {"deliveryId": delivery, "event": event, "summary": summarize(event, payload)},
    )
    return JSONResponse(stored, status_code=202)
